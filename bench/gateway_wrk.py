"""Drive an HTTP endpoint with ``wrk`` (the Debian package): POST bodies, read back figures.

A generated Lua script sends the given JSON bodies in turn (one body: wrk's static request)
and prints, when wrk is done, one JSON line: requests completed, duration, latency
percentiles (µs) and errors (connect, read, write, time-out, non-2xx status).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PATH = "/v1/chat/completions"
DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\n{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass(frozen=True)
class Result:
    """What one wrk run measured."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _long_string(text: str) -> str:
    level = "=" * 3
    while f"]{level}]" in text:
        level += "="
    return f"[{level}[{text}]{level}]"


def _lua_table(headers: dict[str, str]) -> str:
    return "{" + ", ".join(f'["{k}"] = "{v}"' for k, v in headers.items()) + "}"


def script(bodies: list[tuple[bytes, dict[str, str]]], key: str | None) -> str:
    """The Lua script that sends ``bodies`` (with their own headers) in turn, with the key
    as a bearer token."""
    common = {"Content-Type": "application/json"}
    if key is not None:
        common["Authorization"] = f"Bearer {key}"
    if len(bodies) == 1:
        body, headers = bodies[0]
        return (
            f'wrk.method = "POST"\nwrk.path = "{PATH}"\n'
            f"wrk.headers = {_lua_table(common | headers)}\n"
            f"wrk.body = {_long_string(body.decode())}\n" + DONE
        )
    items = ",\n".join(
        f"{{{_lua_table(common | headers)}, {_long_string(body.decode())}}}"
        for body, headers in bodies
    )
    return (
        f"""
local bodies = {{{items}}}
local requests = {{}}
local n = 0
init = function(args)
  for i, item in ipairs(bodies) do
    requests[i] = wrk.format("POST", "{PATH}", item[1], item[2])
  end
end
request = function()
  n = n + 1
  return requests[(n % #requests) + 1]
end
"""
        + DONE
    )


def run(
    url: str,
    bodies: list[tuple[bytes, dict[str, str]]],
    key: str | None,
    clients: int,
    seconds: float,
    cpu: int | None = None,
    timeout: float = 10.0,
) -> Result:
    """``clients`` connections for ``seconds`` from one wrk thread (pinned to ``cpu``)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed: `make system-packages` installs it")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script(bodies, key))
    command = [wrk, "-t1", f"-c{clients}", f"-d{round(seconds)}s", f"--timeout={round(timeout)}s"]
    command += ["-s", file.name, url]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    try:
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        Path(file.name).unlink()
    figures = json.loads(output.strip().splitlines()[-1])
    return Result(
        requests=figures["requests"],
        seconds=figures["duration_us"] / 1e6,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        errors=figures["errors"],
    )
