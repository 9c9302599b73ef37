"""What metering costs on the request path: ``Meter.record`` with and without the journal.

Prints microseconds per call; asserts nothing. Run: ``.venv/bin/python -m bench.gateway_record``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from contracts.codec import encode
from contracts.events import RequestMetered
from services.gateway.journal import Journal
from services.gateway.metering import Meter
from services.gateway.spool import Spool


def event() -> RequestMetered:
    now, rid = datetime.now(UTC), uuid.uuid4()
    return RequestMetered(
        event_id=rid, occurred_at=now, request_id=rid, key_id=uuid.uuid4(), user_id="u1",
        school_id="s1", group_id="g1", model="demo", prompt_tokens=1200, completion_tokens=300,
        cached_tokens=0, cost_micro_usd=2400, status=200, stream=True, latency_ms=850,
        chat_id=uuid.uuid4(), gateway_id="1", at=now,
    )  # fmt: skip


async def per_call_us(calls: int, journal: bool, folder: Path) -> float:
    async def publish(subject: str, data: bytes, headers: dict[str, str]) -> object:
        return None

    meter = Meter(
        publish,
        lambda: True,
        Spool(folder / "spool"),
        journal=Journal(folder / "j") if journal else None,
    )
    events = [event() for _ in range(calls)]
    start = time.perf_counter()
    for item in events:
        meter.record(item)
    return (time.perf_counter() - start) / calls * 1e6


async def main(calls: int) -> None:
    events = [event() for _ in range(calls)]
    start = time.perf_counter()
    for item in events:
        encode(item)
    print(f"encode only:            {(time.perf_counter() - start) / calls * 1e6:6.1f} µs/call")
    with tempfile.TemporaryDirectory() as folder:
        for journal in (False, True):
            us = await per_call_us(calls, journal, Path(folder) / str(journal))
            print(f"record(), journal {'on ' if journal else 'off'}:  {us:6.1f} µs/call")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20_000)
    asyncio.run(main(parser.parse_args().calls))
