"""What metering costs on the request path: ``Meter.record`` with and without the journal,
the write-ahead intent written before forwarding (``intend`` + ``fulfil``), and the body
validation done before admission.

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
from services.gateway.adapters.journal import Journal
from services.gateway.adapters.metering import Meter
from services.gateway.adapters.spool import Spool
from services.gateway.domain.validation import validate
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


async def intent_us(calls: int, folder: Path, in_flight: int) -> float:
    """``intend`` + ``fulfil`` per request with ``in_flight`` requests open at a time: the
    journal is truncated each time none is left open (every request when idle)."""

    async def publish(subject: str, data: bytes, headers: dict[str, str]) -> object:
        return None

    journal = Journal(folder / f"i{in_flight}")
    meter = Meter(publish, lambda: True, Spool(folder / "spool"), journal=journal)
    events = [event() for _ in range(calls)]
    start = time.perf_counter()
    for first in range(0, calls, in_flight):
        intents = [meter.intend(item) for item in events[first : first + in_flight]]
        for intent in intents:
            meter.fulfil(intent)
    return (time.perf_counter() - start) / calls * 1e6


def validation_us(calls: int) -> float:
    # An Aider-sized chat: system prompt, a few turns, a file's content.
    body = {
        "model": "demo",
        "stream": True,
        "max_tokens": 4096,
        "temperature": 0,
        "messages": [{"role": "system", "content": "x" * 4000}]
        + [{"role": r, "content": "y" * 2000} for r in ("user", "assistant") * 6],
    }
    start = time.perf_counter()
    for _ in range(calls):
        validate("/chat/completions", body)
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
        for in_flight in (1, 16):
            us = await intent_us(calls, Path(folder), in_flight)
            print(f"intend() + fulfil(), {in_flight:2} open: {us:6.1f} µs/call")
    print(f"validate() a chat body: {validation_us(calls):6.1f} µs/call")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20_000)
    asyncio.run(main(parser.parse_args().calls))
