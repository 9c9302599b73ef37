"""Benchmark: a gateway starting on a KEYS stream of many keys: time to ready, memory.

Fills KEYS with ``--keys`` ``KeyIssued`` events (as the keys relay writes them: JSON by the
contracts codec's shape, ``Nats-Msg-Id`` set; 40 schools, 1 000 groups, students with a
daily renewal), starts ``aischool gateway serve`` pinned to CPU 0 and times it from process
start to ``/readyz`` (200 once KEYS and USAGE are replayed), sampling its resident memory
(and its CPU time until then). Then revokes ``--rounds`` of the keys one at a time and times
each until the gateway refuses it (``bench/gateway_revocation.py``'s measure). Not a test:
prints figures.

    .venv/bin/python -m bench.gateway_keys_replay [--keys 1000000] [--rounds 100]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import orjson
import psutil

from bench.gateway_common import key_issued, percentile
from bench.gateway_floor import machine, until
from bench.gateway_revocation import one_round
from bench.gateway_stack import GATEWAY_CPU, Stack, aischool, start_servers, start_upstream
from contracts.codec import AGGREGATE_ID, EVENT_TYPE, MSG_ID
from contracts.streams import KEYS
from infra.messaging import connect, ensure_streams

SUBJECT = KEYS.subject_for("KeyIssued")
FLUSH_EVERY = 10_000


def template() -> dict[str, object]:
    """A student's key as the keys service issues it (JSON form)."""
    _, event = key_issued()
    body: dict[str, object] = event.model_dump(mode="json")
    return body | {"role": "student", "renewal": "daily", "issued_by": "admin-1"}


async def fill(url: str, count: int) -> float:
    """Publish ``count`` distinct KeyIssued events; seconds taken."""
    nc = await connect(url, "bench-fill")
    js = nc.jetstream()
    await ensure_streams(js)
    base, began = template(), time.perf_counter()
    batch = uuid.uuid4()
    for n in range(count):
        key_id, event_id = uuid.uuid4(), uuid.uuid4()
        body = base | {
            "event_id": str(event_id),
            "key_id": str(key_id),
            "key_hash": f"{n:064x}",
            "user_id": f"student-{n}",
            "school_id": f"school-{n % 40}",
            "group_id": f"group-{n % 1000}",
            "batch_id": str(batch),
        }
        headers = {MSG_ID: str(event_id), EVENT_TYPE: "KeyIssued", AGGREGATE_ID: str(key_id)}
        # Core publishes (no ack each): the stream stores them all the same; we then wait
        # until it holds every one.
        await nc.publish(SUBJECT, orjson.dumps(body), headers=headers)
        if n % FLUSH_EVERY == 0:
            await nc.flush(timeout=60)
    await nc.flush(timeout=60)

    async def stored() -> bool:
        return bool((await js.stream_info(KEYS.name)).state.messages >= count)

    await until(stored, time.monotonic() + 600, 0.5)
    await nc.close()
    return time.perf_counter() - began


def start_gateway(stack: Stack) -> tuple[float, float, float, float]:
    """Seconds from spawn to ready, peak RSS (MiB) while replaying, RSS once ready, and the
    gateway's CPU seconds until ready (what a busy machine's wall time hides)."""
    began = time.perf_counter()
    stack.spawn("gateway", aischool("gateway", "serve"), GATEWAY_CPU)
    process, peak = psutil.Process(stack.pid("gateway")), 0
    with httpx.Client(base_url=stack.url("gateway"), timeout=5) as http:
        while True:
            peak = max(peak, process.memory_info().rss)
            try:
                if http.get("/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    ready = time.perf_counter() - began
    cpu = process.cpu_times()
    return ready, peak / 2**20, process.memory_info().rss / 2**20, cpu.user + cpu.system


async def revocations(stack: Stack, rounds: int) -> list[float]:
    assert stack.nats is not None
    nc = await connect(stack.nats.url, "bench")
    async with httpx.AsyncClient(base_url=stack.url("gateway")) as http:
        latencies = [await one_round(http, nc.jetstream()) for _ in range(rounds)]
    await nc.close()
    return [latency * 1000 for latency in latencies]


async def main(keys: int, rounds: int) -> None:
    print(machine(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp))
        try:
            start_servers(stack, postgres=False)
            start_upstream(stack)
            assert stack.nats is not None
            seconds = await fill(stack.nats.url, keys)
            print(f"KEYS filled with {keys} KeyIssued in {seconds:.1f} s", flush=True)
            ready, peak, rss, cpu = start_gateway(stack)
            print(
                f"gateway ready after {ready:.1f} s (CPU {cpu:.1f} s);"
                f" RSS peak {peak:.0f} MiB, ready {rss:.0f} MiB"
            )
            ms = await revocations(stack, rounds)
            print(
                f"revocation of {rounds} keys among {keys}: median {statistics.median(ms):.1f} ms,"
                f" p99 {percentile(ms, 0.99):.1f} ms, max {max(ms):.1f} ms"
            )
        finally:
            stack.stop()
    print(f"done: {machine()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.keys, args.rounds))
