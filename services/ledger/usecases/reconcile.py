"""Reconciliation: the ledger's totals per key against the metered events in ``USAGE``.

The stream is read from its start with an ordered consumer (no state on the server, nothing
to clean up) up to the last sequence it had when we began; each request counts once by its
request_id, as the ledger counts it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError

from contracts.codec import UnknownEvent, decode
from contracts.events import RequestMetered
from contracts.streams import USAGE
from infra.database import Pool
from services.ledger.adapters.queries import totals_per_key
from services.ledger.domain.projection import KeysView
from services.ledger.usecases.ingest import DURABLE


@dataclass
class KeyTotals:
    """Requests and cost of one key, and its school (for the scope)."""

    school_id: str
    requests: int = 0
    cost_micro_usd: int = 0


@dataclass
class StreamTotals:
    """Per-key sums of the ``RequestMetered`` events up to ``last_sequence``."""

    first_sequence: int = 0
    last_sequence: int = 0
    keys: dict[UUID, KeyTotals] = field(default_factory=dict)
    seen: set[UUID] = field(default_factory=set)

    def add(self, event: RequestMetered) -> None:
        """Count a metered request once, however often it was published."""
        if event.request_id in self.seen:
            return
        self.seen.add(event.request_id)
        totals = self.keys.setdefault(event.key_id, KeyTotals(event.school_id))
        totals.requests += 1
        totals.cost_micro_usd += event.cost_micro_usd


@dataclass(frozen=True)
class Difference:
    """A key whose totals differ between the ledger and the stream."""

    key_id: UUID
    school_id: str
    ledger: tuple[int, int]
    stream: tuple[int, int]


def compare(ledger: dict[UUID, KeyTotals], stream: dict[UUID, KeyTotals]) -> list[Difference]:
    """Every key whose (requests, cost) differ, in key order; pure."""
    differences = []
    for key_id in sorted(ledger.keys() | stream.keys()):
        mine, theirs = ledger.get(key_id), stream.get(key_id)
        a = (mine.requests, mine.cost_micro_usd) if mine else (0, 0)
        b = (theirs.requests, theirs.cost_micro_usd) if theirs else (0, 0)
        if a != b:
            school = (mine or theirs).school_id  # type: ignore[union-attr]
            differences.append(Difference(key_id, school, a, b))
    return differences


async def read_stream(js: JetStreamContext, patience: float = 600) -> StreamTotals:
    """Sum the stream's metered requests per key, from its first message to its last."""
    info = await js.stream_info(USAGE.name)
    totals = StreamTotals(info.state.first_seq, info.state.last_seq)
    if info.state.messages == 0:
        return totals
    subscription = await js.subscribe(
        f"{USAGE.subject_prefix}.>",
        stream=USAGE.name,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
    )
    try:
        async with asyncio.timeout(patience):
            async for msg in subscription.messages:
                with contextlib.suppress(UnknownEvent):
                    event = decode(msg.data)
                    if isinstance(event, RequestMetered):
                        totals.add(event)
                if msg.metadata.sequence.stream >= totals.last_sequence:
                    break
    finally:
        await subscription.unsubscribe()
    return totals


async def ledger_sequence(js: JetStreamContext) -> int:
    """The stream sequence up to which the ledger has committed and acked everything."""
    try:
        info = await js.consumer_info(USAGE.name, DURABLE)
    except NotFoundError:
        return 0
    return int(info.ack_floor.stream_seq) if info.ack_floor else 0


async def wait_for_ledger(js: JetStreamContext, sequence: int, patience: float) -> int:
    """Wait (up to ``patience`` seconds) until the ledger acked ``sequence``; its sequence."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(patience):
            # The consumer's ack floor has no change feed: poll it.
            while True:
                if await ledger_sequence(js) >= sequence:
                    break
                await asyncio.sleep(0.2)
    return await ledger_sequence(js)


async def ledger_totals(pool: Pool) -> dict[UUID, KeyTotals]:
    """The ledger's all-time totals per key."""
    rows = await totals_per_key(pool)
    return {
        key: KeyTotals(school, requests, cost) for key, (requests, cost, school) in rows.items()
    }


async def reconciliation(
    js: JetStreamContext,
    pool: Pool,
    view: KeysView,
    sees: Callable[[str], bool],
    wait: float,
) -> dict[str, Any]:
    """The comparison, for the keys of the schools ``sees`` accepts, as a report."""
    stream = await read_stream(js)
    done = await wait_for_ledger(js, stream.last_sequence, wait)
    ledger = await ledger_totals(pool)
    in_scope = {k for k, t in (ledger | stream.keys).items() if sees(t.school_id)}
    differences = [
        {
            "key_id": d.key_id,
            "key_hint": view.key_hint(d.key_id),
            "ledger_requests": d.ledger[0],
            "stream_requests": d.stream[0],
            "ledger_cost_micro_usd": d.ledger[1],
            "stream_cost_micro_usd": d.stream[1],
        }
        for d in compare(ledger, stream.keys)
        if d.key_id in in_scope
    ]
    return {
        "matches": not differences,
        "stream_first_sequence": stream.first_sequence,
        "stream_last_sequence": stream.last_sequence,
        "ledger_sequence": done,
        "keys_compared": len(in_scope),
        "differences": differences,
    }
