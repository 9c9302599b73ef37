"""Wait for a projection to reach a stream position: the one way tests wait for an event.

A test that wrote something (published a key, appended an event, metered a request) and
depends on a projection having applied it waits here for that projection's position to
reach the stream's head, rather than sleeping a fixed time or hoping the push arrived.
Readers: a ``Follower`` (any in-process projection: the gateway's keys and spend, a
service's directory view), the gateway's ``/metrics`` (a replica in another thread or
process), the ledger's durable consumer, or any callable returning a position.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from functools import partial

import httpx
from nats.js import JetStreamContext
from prometheus_client.parser import text_string_to_metric_families

from contracts.streams import KEYS, USAGE, StreamSpec
from infra.follow import Follower
from services.ledger.usecases.reconcile import ledger_sequence

Position = Callable[[], int | Awaitable[int]]
POLL_SECONDS = 0.01


async def stream_head(js: JetStreamContext, stream: StreamSpec) -> int:
    """The stream's last sequence now: what a projection has to reach to have seen it all."""
    return int((await js.stream_info(stream.name)).state.last_seq)


async def reach(position: Position, target: int, *, what: str, timeout: float = 20) -> int:
    """Return once ``position()`` is at least ``target``; fail saying where it stayed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = position()
        now = await value if inspect.isawaitable(value) else value
        if now >= target:
            return now
        if loop.time() > deadline:
            raise AssertionError(f"{what} stayed at position {now}, not {target}, for {timeout} s")
        await asyncio.sleep(POLL_SECONDS)


async def follower_caught_up(follower: Follower, js: JetStreamContext, stream: StreamSpec) -> None:
    """The follower has applied everything ``stream`` holds now."""
    head = await stream_head(js, stream)
    await reach(lambda: follower.last_sequence, head, what=f"the {stream.name} follower")


def gateway_sequence(url: str, stream: StreamSpec) -> Callable[[], Awaitable[int]]:
    """The gateway replica at ``url``'s last applied sequence of ``stream``, from /metrics."""

    async def read() -> int:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            text = (await client.get("/metrics")).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "gateway_stream_sequence" and sample.labels == {
                    "stream": stream.name
                }:
                    return int(sample.value)
        return 0

    return read


async def gateway_caught_up(url: str, js: JetStreamContext, stream: StreamSpec = KEYS) -> None:
    """The gateway at ``url`` has applied everything ``stream`` holds now (default: KEYS)."""
    head = await stream_head(js, stream)
    await reach(gateway_sequence(url, stream), head, what=f"the gateway's {stream.name} projection")


async def ledger_caught_up(js: JetStreamContext, timeout: float = 30) -> None:
    """The ledger has committed and acked everything USAGE holds now (its durable consumer's
    ack floor; the same position ``aischool ledger reconcile`` reports)."""
    head = await stream_head(js, USAGE)
    await reach(
        partial(ledger_sequence, js), head, what="the ledger's USAGE consumer", timeout=timeout
    )
