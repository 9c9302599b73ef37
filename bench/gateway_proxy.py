"""Benchmark: requests/s and latency through the whole gateway at 16-64 concurrent clients.

Non-streaming chat completions of one staff key against a fast local upstream: every request
is authenticated, rate-limited, reserved, forwarded, settled and metered to JetStream.
Not a test: prints figures.

    .venv/bin/python -m bench.gateway_proxy [--requests 3000] [--concurrency 16 32 64]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import aiohttp

from bench.gateway_common import key_issued, percentile, publish, running_stack
from infra.messaging import connect

BODY = {"model": "bench", "messages": [{"role": "user", "content": "Say hello in five words."}]}


async def load(url: str, key: str, total: int, clients: int) -> tuple[float, list[float], int]:
    """Send ``total`` requests from ``clients`` concurrent loops: seconds, latencies, failures."""
    latencies: list[float] = []
    failures = 0
    remaining = iter(range(total))
    headers = {"authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            nonlocal failures
            for _ in remaining:
                start = time.perf_counter()
                async with session.post(
                    f"{url}/v1/chat/completions", json=BODY, headers=headers
                ) as response:
                    await response.read()
                    failures += response.status != 200
                latencies.append(time.perf_counter() - start)

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return time.perf_counter() - began, latencies, failures


async def main(requests: int, concurrency: list[int]) -> None:
    with running_stack() as stack:
        nc = await connect(stack.nats.url, "bench")
        key, event = key_issued()
        await publish(nc.jetstream(), event)
        await asyncio.sleep(0.5)
        await load(stack.gateway_url, key, 200, 8)  # warm-up
        print("clients   req/s  p50 ms  p99 ms  failures")
        for clients in concurrency:
            seconds, latencies, failures = await load(stack.gateway_url, key, requests, clients)
            print(
                f"{clients:7d} {requests / seconds:7.0f} {statistics.median(latencies) * 1000:7.1f}"
                f" {percentile(latencies, 0.99) * 1000:7.1f} {failures:9d}"
            )
        await nc.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 32, 64])
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.concurrency))
