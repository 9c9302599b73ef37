"""What metering costs on the request path: ``Meter.record`` with and without the journal.

Prints microseconds per call; asserts nothing. Run: ``.venv/bin/python -m bench.gateway_record``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from contracts.codec import encode
from contracts.events import RequestMetered
from services.gateway.journal import Journal
from services.gateway.metering import Meter
from services.gateway.spool import Spool
from tests.fakes.events import request_metered


def event() -> RequestMetered:
    return request_metered(
        group_id="g1", prompt_tokens=1200, completion_tokens=300, cost_micro_usd=2400,
        stream=True, latency_ms=850, chat_id=uuid.uuid4(),
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
