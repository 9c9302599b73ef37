"""Benchmark: how long after KeyRevoked is published a gateway rejects the key.

For each round: issue a key, wait until the gateway accepts it, publish ``KeyRevoked`` to
KEYS (as the keys relay does once the keys service has answered), then poll ``GET /v1/models``
back to back until it answers 401. The latency includes one poll's round trip.
Not a test: prints figures.

    .venv/bin/python -m bench.gateway_revocation [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime

import httpx

from bench.gateway_common import key_issued, percentile, publish, running_stack
from contracts.events import KeyRevoked
from infra.messaging import connect


async def status(http: httpx.AsyncClient, key: str) -> int:
    response = await http.get("/v1/models", headers={"authorization": f"Bearer {key}"})
    return response.status_code


async def one_round(http: httpx.AsyncClient, js: object) -> float:
    """Seconds from publishing the revocation to the first 401."""
    key, issued = key_issued()
    await publish(js, issued)
    while await status(http, key) != 200:
        pass  # polling over HTTP is what a client does; the gateway has no event to wait on
    revoked = KeyRevoked(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        key_id=issued.key_id,
        revoked_by="bench",
        reason="bench",
    )
    start = time.perf_counter()
    await publish(js, revoked)
    while await status(http, key) != 401:
        pass
    return time.perf_counter() - start


async def main(rounds: int) -> None:
    with running_stack() as stack:
        nc = await connect(stack.nats.url, "bench")
        async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
            latencies = [await one_round(http, nc.jetstream()) for _ in range(rounds)]
        await nc.close()
    ms = [latency * 1000 for latency in latencies]
    print(f"rounds {rounds}: revocation enforced after median {statistics.median(ms):.1f} ms,")
    print(f"p99 {percentile(ms, 0.99):.1f} ms, max {max(ms):.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    asyncio.run(main(parser.parse_args().rounds))
