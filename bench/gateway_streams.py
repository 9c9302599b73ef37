"""Benchmark: many open streams through one gateway against a slow upstream.

The fake upstream (``bench/gateway_upstream.py``) waits ``--start`` seconds before its first
chunk and ``--chunk`` seconds between its 20 chunks; ``wrk`` holds ``--clients`` streaming
requests open at once for ``--seconds``, first straight to the upstream, then through the
bare pass-through on the gateway's own stack (``barewire``: its floor), then through the
gateway (``aischool gateway serve``, pinned as in ``bench/gateway_stack.py``, with NATS). It
prints streams/s, p50/p99, errors, the relay's CPU per stream, its resident memory idle and
under load (and so per open stream), and checks one ``RequestMetered`` per gateway stream.
Not a test: prints figures.

    .venv/bin/python -m bench.gateway_streams [--clients 2000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

from bench import gateway_wrk
from bench.gateway_floor import METERED, STREAMED, issue_key, machine, until
from bench.gateway_stack import LOAD_CPU, Stack, cpu_seconds, running
from contracts.streams import USAGE


def served(stack: Stack) -> int:
    return int(httpx.get(f"{stack.url('upstream')}/count").json()["served"])


async def metered(js: object) -> int:
    info = await js.stream_info(USAGE.name, subjects_filter=METERED)  # type: ignore[attr-defined]
    return int((info.state.subjects or {}).get(METERED, 0))


def peak_rss(pid: int, stop: threading.Event, peaks: list[int]) -> None:
    process = psutil.Process(pid)
    while not stop.is_set():
        peaks.append(process.memory_info().rss)
        time.sleep(0.1)


def load(stack: Stack, target: str, key: str | None, clients: int, seconds: float) -> str:
    # The upstream's own row has no relay to watch: the gateway's figures stay blank there.
    pid = stack.pid("gateway" if target == "upstream" else target)
    cpu, stop, first = cpu_seconds(pid), threading.Event(), served(stack)
    peaks: list[int] = []
    watcher = threading.Thread(target=peak_rss, args=(pid, stop, peaks))
    idle = psutil.Process(pid).memory_info().rss
    watcher.start()
    try:
        result = gateway_wrk.run(
            stack.url(target), [(STREAMED, {})], key, clients, seconds, LOAD_CPU, timeout=30
        )
    finally:
        stop.set()
        watcher.join()
    count = served(stack)
    while True:  # the streams wrk left open finish on their own
        time.sleep(1)
        if served(stack) == count:
            break
        count = served(stack)
    cpu = cpu_seconds(pid) - cpu
    count -= first
    figures = (
        f"{target:8} {clients:>7} {result.rate:>9.0f} {result.p50_ms:>8.1f} {result.p99_ms:>8.1f}"
        f" {result.errors:>6}"
    )
    if target == "upstream":
        return figures
    per_stream = (max(peaks) - idle) / clients / 1024
    return (
        f"{figures} {cpu / max(count, 1) * 1000:>12.3f} {idle / 2**20:>9.0f}"
        f" {max(peaks) / 2**20:>9.0f} {per_stream:>12.1f}"
    )


async def main(args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        running(Path(tmp), rest=False, start_delay=args.start, chunk_delay=args.chunk) as stack,
    ):
        nc, key = await issue_key(stack)
        js = nc.jetstream()  # type: ignore[attr-defined]
        print(machine(), flush=True)
        print(f"upstream: {args.start * 1000:.0f} ms to start, {args.chunk * 1000:.0f} ms a chunk")
        print(
            f"{'target':8} {'clients':>7} {'streams/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
            f" {'errors':>6} {'CPU ms/stream':>12} {'RSS idle':>9} {'RSS peak':>9}"
            f" {'KiB/stream':>12}"
        )
        # barewire: the floor of the gateway's own stack (server, ASGI path, upstream client).
        for target in ("upstream", "barewire", "gateway"):
            before, metered_before = served(stack), await metered(js)
            row = await asyncio.to_thread(load, stack, target, key if target == "gateway" else None,
                                          args.clients, args.seconds)  # fmt: skip
            if target == "gateway":
                count = served(stack) - before

                async def all_metered(count: int = count, base: int = metered_before) -> bool:
                    return await metered(js) - base >= count

                await until(all_metered, time.monotonic() + 120)
                got = await metered(js) - metered_before
                check = "ok" if got == count else "MISMATCH"
                row += f"  served {count}, metered {got}: {check}"
            print(row, flush=True)
        print(f"done: {machine()}")
        await nc.close()  # type: ignore[attr-defined]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--start", type=float, default=0.05)
    parser.add_argument("--chunk", type=float, default=0.005)
    asyncio.run(main(parser.parse_args()))
