"""Benchmark (``make bench``): the gateway against the floor of its own HTTP stack, same run.

Starts NATS, PostgreSQL, the fake upstream (``bench/gateway_upstream.py``), the bare
pass-through (``bench/gateway_bare.py``: the gateway's server, framework and client, nothing
else), the ledger and the keys service, and the gateway as production runs it
(``aischool gateway serve``, default settings: logs at INFO), pinned as
``bench/gateway_stack.py`` says. ``wrk`` drives the upstream directly, the bare pass-through
and the gateway at 1, 16 and 64 clients, non-streaming and streaming (20 chunks), then the
gateway with the captured Aider and OpenCode bodies (``bench/gateway_bodies.py``). Each row
prints req/s, p50, p99, the CPU per request of the process under load, and for the gateway
the CPU per metered request of every other process of the stack, and checks that USAGE got
exactly one ``RequestMetered`` per completion the upstream served. Not a test.

    .venv/bin/python -m bench.gateway_floor [--seconds 5] [--clients 1 16 64]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson

from bench import gateway_wrk
from bench.gateway_bodies import session
from bench.gateway_common import key_issued, publish
from bench.gateway_stack import LOAD_CPU, Stack, cpu_seconds, running
from contracts.streams import USAGE
from infra.messaging import connect

REST = ("nats", "postgres", "ledger", "keys")
METERED = f"{USAGE.subject_prefix}.request_metered"
PROMPT = [{"role": "user", "content": "Say hello in five words."}]
SMALL = orjson.dumps({"model": "bench", "messages": PROMPT})
STREAMED = orjson.dumps(
    {
        "model": "bench",
        "messages": PROMPT,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
)
HEADER = (
    f"{'target':8} {'body':9} {'clients':>7} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}"
    f" {'CPU ms/req':>10} {'errors':>6} {'rest ms/metered':>15}  rest by process (ms)"
)


@dataclass
class Bench:
    stack: Stack
    js: object
    key: str
    seconds: float
    profile: Path | None = None
    unmetered: int = 0  # served to the direct and bare rows: never metered
    idle: dict[str, float] = field(default_factory=dict)  # CPU s/s of the rest, at rest

    async def _metered(self) -> int:
        info = await self.js.stream_info(USAGE.name, subjects_filter=METERED)  # type: ignore[attr-defined]
        return int((info.state.subjects or {}).get(METERED, 0))

    def _count(self) -> int:
        """Completions the upstream served, to anyone."""
        return int(httpx.get(f"{self.stack.url('upstream')}/count").json()["served"])

    def _served(self) -> int:
        """Completions the upstream served through the gateway."""
        return self._count() - self.unmetered

    async def _wrk(
        self, target: str, bodies: list[tuple[bytes, dict[str, str]]], clients: int, seconds: float
    ) -> gateway_wrk.Result:
        key = self.key if target == "gateway" else None
        served = self._served()
        profiler = self._profiler(target, bodies, clients, seconds)
        result = await asyncio.to_thread(
            gateway_wrk.run, self.stack.url(target), bodies, key, clients, seconds, LOAD_CPU
        )
        if profiler is not None:
            profiler.wait()
        # wrk leaves requests in flight when it stops: count them once they are served.
        await until(self._steady_count, time.monotonic() + 30, 0.3)
        if target != "gateway":
            self.unmetered += self._served() - served
        return result

    async def _steady_count(self) -> bool:
        before = self._served()
        await asyncio.sleep(0.3)
        return self._served() == before

    def _profiler(
        self, target: str, bodies: list[tuple[bytes, dict[str, str]]], clients: int, seconds: float
    ) -> subprocess.Popen[bytes] | None:
        """py-spy on the process under load for a measured run (``--profile DIR``)."""
        if self.profile is None or target == "upstream" or seconds < 2:
            return None
        kind = "stream" if b'"stream":true' in bodies[0][0] else "whole"
        out = self.profile / f"{target}-{kind}-{len(bodies)}-{clients}.txt"
        command = [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--format",
            "raw",
            "--rate",
            "250",
            "--nonblocking",
        ]
        command += ["--duration", str(round(seconds) - 1), "--pid", str(self.stack.pid(target))]
        return subprocess.Popen([*command, "--output", str(out)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip

    def _rest_cpu(self) -> dict[str, float]:
        return {name: cpu_seconds(self.stack.pid(name)) for name in REST}

    async def _settle(self) -> None:
        """Until USAGE holds every served request, the ledger ingested it and the rest of the
        system is idle again (the keys service has no position to ask)."""
        deadline = time.monotonic() + 120

        async def metered_all() -> bool:
            return await self._metered() >= self._served()

        async def ingested() -> bool:
            info = await self.js.stream_info(USAGE.name)  # type: ignore[attr-defined]
            return bool(self._ledger_sequence() >= info.state.last_seq)

        last = [sum(self._rest_cpu().values())]

        async def quiet() -> bool:
            now = sum(self._rest_cpu().values())
            busy = now - last[0] > 0.01 + sum(self.idle.get(name, 0) for name in REST) * 0.3
            last[0] = now
            return not busy

        await until(metered_all, deadline)
        await until(ingested, deadline)
        await until(quiet, deadline, 0.3)

    async def measure_idle(self, seconds: float = 5) -> None:
        """The rest of the system's CPU per second while nothing is sent (heartbeats, timers),
        subtracted from what a run costs."""
        await self._settle()
        names = (*REST, "gateway", "bare", "barewire")
        before = {name: cpu_seconds(self.stack.pid(name)) for name in names}
        began = time.monotonic()
        await asyncio.sleep(seconds)
        elapsed = time.monotonic() - began
        after = {name: cpu_seconds(self.stack.pid(name)) for name in names}
        self.idle = {name: (after[name] - before[name]) / elapsed for name in names}

    def _ledger_sequence(self) -> int:
        for line in httpx.get(f"{self.stack.url('ledger')}/metrics").text.splitlines():
            if line.startswith("ledger_usage_sequence "):
                return int(float(line.split()[1]))
        return 0

    async def row(
        self, target: str, label: str, bodies: list[tuple[bytes, dict[str, str]]], clients: int
    ) -> str:
        await self._wrk(target, bodies, clients, 1)  # warm-up
        await self._settle()
        served, metered = self._served(), await self._metered()
        cpu, rest, began = cpu_seconds(self.stack.pid(target)), self._rest_cpu(), time.monotonic()
        count = self._count()
        result = await self._wrk(target, bodies, clients, self.seconds)
        # The process's own timers (NATS heartbeats, the journal's fsync) are not a request's.
        idle = self.idle.get(target, 0.0) * (time.monotonic() - began)
        cpu = cpu_seconds(self.stack.pid(target)) - cpu - idle
        # Per request the upstream served (wrk counts only those it saw finish).
        per_request = cpu / max(self._count() - count, 1) * 1000
        figures = (
            f"{target:8} {label:9} {clients:>7} {result.rate:>7.0f} {result.p50_ms:>7.2f}"
            f" {result.p99_ms:>7.2f} {per_request:>10.3f}"
            f" {result.errors:>6}"
        )
        if target != "gateway":
            return figures
        await self._settle()
        served, metered = self._served() - served, await self._metered() - metered
        elapsed = time.monotonic() - began
        spent = {
            name: cpu_seconds(self.stack.pid(name)) - rest[name] - self.idle[name] * elapsed
            for name in REST
        }
        per = {name: seconds / max(metered, 1) * 1000 for name, seconds in spent.items()}
        check = "ok" if metered == served else f"MISMATCH {metered} metered of {served} served"
        by_process = " ".join(f"{name} {ms:.3f}" for name, ms in per.items())
        return f"{figures} {sum(per.values()):>15.3f}  {by_process}  metered {metered}: {check}"


async def issue_key(stack: Stack) -> tuple[object, str]:
    assert stack.nats is not None
    nc = await connect(stack.nats.url, "bench")
    key, event = key_issued()
    await publish(nc.jetstream(), event)
    auth = {"authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=stack.url("gateway"), headers=auth) as http:

        async def accepted() -> bool:
            return (await http.get("/v1/models")).status_code == 200

        await until(accepted, time.monotonic() + 30)
    return nc, key


async def until(done: Callable[[], Awaitable[bool]], deadline: float, every: float = 0.1) -> None:
    """Poll ``done`` (another process's state) until it holds or the deadline passes."""
    while time.monotonic() < deadline:
        if await done():
            return
        await asyncio.sleep(every)


def machine() -> str:
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{when}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()},"
        f" Python {sys.version.split()[0]}, load average {load}"
    )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, running(Path(tmp), rest=True) as stack:
        nc, key = await issue_key(stack)
        bench = Bench(stack, nc.jetstream(), key, args.seconds, args.profile)  # type: ignore[attr-defined]
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
        print(machine(), flush=True)
        await bench.measure_idle()
        idle = " ".join(f"{name} {rate * 1000:.1f}" for name, rate in bench.idle.items())
        print(f"CPU of each process at rest (ms/s, subtracted below): {idle}")
        print(HEADER, flush=True)
        for label, body in (("small", SMALL), ("stream-20", STREAMED)):
            for target in args.targets:
                for clients in args.clients:
                    print(await bench.row(target, label, [(body, {})], clients), flush=True)
        for tool in ("aider", "opencode") if args.tools else ():
            for target in ("barewire", "gateway"):
                print(await bench.row(target, tool, session(tool), 16), flush=True)
        print(f"done: {machine()}")
        with contextlib.suppress(Exception):
            await nc.close()  # type: ignore[attr-defined]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument(
        "--targets", nargs="+", default=["upstream", "bare", "barewire", "gateway"],
        choices=["upstream", "bare", "barewire", "gateway"],
    )  # fmt: skip
    parser.add_argument("--no-tools", dest="tools", action="store_false")
    parser.add_argument("--profile", type=Path, help="py-spy each measured run into this folder")
    asyncio.run(main(parser.parse_args()))
