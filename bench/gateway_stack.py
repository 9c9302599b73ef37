"""The processes of a gateway benchmark, pinned to CPUs, with their CPU time from /proc.

CPU 0 (``GATEWAY_CPU``) runs what is measured: the gateway or the bare pass-through (one at
a time is loaded). The last CPU (``LOAD_CPU``) runs the fake upstream and the load generator,
and "the rest of the system": NATS, PostgreSQL, the ledger ingesting USAGE and the keys
service following it, the last three at a lower priority (``nice``) so they take what the
upstream and the load generator leave and catch up after each run; their CPU per metered
request is counted from before a run until the ledger has ingested all of it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from infra.embedded import EmbeddedNats, EmbeddedPostgres, free_port, wait_for_port

GATEWAY_CPU = 0
LOAD_CPU = (os.cpu_count() or 1) - 1
NICE = 10
SECRET = "bench-secret"
MODELS = """[models.bench]
base_url = "http://127.0.0.1:{port}/v1"
input_usd_per_million = 1
output_usd_per_million = 2
max_output_tokens = 100
"""


def pin_tree(pid: int, cpu: int, nice: int = 0) -> None:
    """Every thread of a process and of its children on ``cpu`` (at ``nice``), from now on."""
    root = psutil.Process(pid)
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error, OSError):
            for thread in process.threads():
                os.sched_setaffinity(thread.id, {cpu})
                if nice:
                    os.setpriority(os.PRIO_PROCESS, thread.id, nice)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live children."""
    try:
        root = psutil.Process(pid)
        total = 0.0
        for process in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total
    except psutil.Error:
        return 0.0


@dataclass
class Stack:
    """Everything started, by name; ``stop`` ends it all."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    nats: EmbeddedNats | None = None
    postgres: EmbeddedPostgres | None = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def pid(self, name: str) -> int:
        if name == "nats" and self.nats is not None and self.nats.process is not None:
            return self.nats.process.pid
        if name == "postgres" and self.postgres is not None and self.postgres.process is not None:
            return self.postgres.process.pid
        return self.processes[name].pid

    def spawn(self, name: str, command: list[str], cpu: int, nice: int = 0, **env: str) -> None:
        """Start ``command`` on ``cpu`` with ``AISCHOOL_PORT`` set, and wait for its port."""
        port = self.ports[name] = free_port()
        prefix = ["taskset", "-c", str(cpu)] + (["nice", "-n", str(nice)] if nice else [])
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        with (logs / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                [*prefix, *(part.replace("{port}", str(port)) for part in command)],
                env={**self.env, "AISCHOOL_PORT": str(port), **env},
                stdout=log,
                stderr=log,
            )
        try:
            wait_for_port(port, 60, self.processes[name])
        except (RuntimeError, TimeoutError):
            print((logs / f"{name}.log").read_text()[-3000:], file=sys.stderr)
            raise

    def ready(self, name: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url(name)}/readyz").status_code == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"{name} not ready: see {self.root / 'logs' / name}.log")

    def stop(self) -> None:
        for process in reversed(self.processes.values()):
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        for server in (self.nats, self.postgres):
            if server is not None:
                server.stop()


def aischool(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "aischool"), *args]


def start_servers(stack: Stack, *, postgres: bool) -> None:
    """NATS (and PostgreSQL) on the load CPU, with the environment the services read."""
    stack.nats = EmbeddedNats(stack.root / "nats")
    stack.nats.start()
    pin_tree(stack.nats.process.pid, LOAD_CPU)  # type: ignore[union-attr]
    stack.env.update(
        os.environ,
        AISCHOOL_NATS_URL=stack.nats.url,
        AISCHOOL_HASH_SECRET=SECRET,
        AISCHOOL_SPOOL_DIR=str(stack.root / "spool"),
        AISCHOOL_STAFF_CONCURRENT_REQUESTS="100000",
        AISCHOOL_STAFF_REQUESTS_PER_MINUTE="100000000",
    )
    if postgres:
        stack.postgres = EmbeddedPostgres(stack.root / "pg" / "data")
        stack.postgres.start()
        stack.env["AISCHOOL_DATABASE_URL"] = stack.postgres.create_database("aischool")
        pin_tree(stack.postgres.process.pid, LOAD_CPU, NICE)  # type: ignore[union-attr]


def start_upstream(stack: Stack, start_delay: float = 0.0, chunk_delay: float = 0.0) -> None:
    """The fake upstream on the load CPU, and the models file that points at it."""
    uvicorn = str(Path(sys.executable).parent / "uvicorn")
    command = [uvicorn, "bench.gateway_upstream:app", "--no-access-log", "--log-level", "warning"]
    stack.ports["upstream"] = 0
    stack.spawn(
        "upstream",
        [*command, "--timeout-keep-alive", "75", "--backlog", "4096", "--port", "{port}"],
        LOAD_CPU,
        AISCHOOL_BENCH_START_DELAY=str(start_delay),
        AISCHOOL_BENCH_CHUNK_DELAY=str(chunk_delay),
    )
    models = stack.root / "models.toml"
    models.write_text(MODELS.format(port=stack.ports["upstream"]))
    stack.env["AISCHOOL_MODELS_FILE"] = str(models)


@contextlib.contextmanager
def running(
    root: Path, *, rest: bool, bare: bool = True, start_delay: float = 0.0, chunk_delay: float = 0.0
) -> Iterator[Stack]:
    """The upstream, the bare pass-through, the gateway and (``rest``) the ledger and keys."""
    stack = Stack(root)
    try:
        start_servers(stack, postgres=rest)
        start_upstream(stack, start_delay, chunk_delay)
        if rest:
            stack.spawn("ledger", aischool("ledger", "serve"), LOAD_CPU, NICE)
            stack.spawn("keys", aischool("keys", "serve"), LOAD_CPU, NICE)
        if bare:
            stack.spawn("bare", [sys.executable, "-m", "bench.gateway_bare"], GATEWAY_CPU)
            wire = [sys.executable, "-m", "bench.gateway_bare", "--wire"]
            stack.spawn("barewire", wire, GATEWAY_CPU)
        stack.spawn("gateway", aischool("gateway", "serve"), GATEWAY_CPU)
        for name in ("gateway", *(("ledger", "keys") if rest else ())):
            stack.ready(name)
        yield stack
    finally:
        stack.stop()
