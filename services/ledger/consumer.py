"""The durable USAGE consumer: fetch a batch, write it in one transaction, commit, then ack.

nats-py's pull subscription (not FastStream's subscriber) because the batch is the unit of
work here: we need the whole fetched list in hand to write it in one transaction and to ack
it only after that commit, with redelivery (and ON CONFLICT) covering a crash in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date

import psycopg
import structlog
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from contracts.codec import UnknownEvent, decode
from contracts.events import EventBase
from contracts.streams import USAGE
from infra.database import Pool
from services.ledger.rows import Batch, oldest_kept_month, split
from services.ledger.store import Written, ensure_partitions, write_batch

log = structlog.get_logger(__name__)

DURABLE = "ledger"


class UsageConsumer:
    """Ingests ``USAGE`` into the ledger; run ``run()`` as a background task."""

    def __init__(
        self,
        js: JetStreamContext,
        pool: Pool,
        *,
        today: Callable[[], date],
        retention_months: int = 0,
        batch_size: int = 1000,
        ack_wait: float = 15,
        on_written: Callable[[Written, Batch], None] | None = None,
    ) -> None:
        self._js = js
        self._pool = pool
        self._today = today
        self._retention_months = retention_months
        self._batch_size = batch_size
        self._ack_wait = ack_wait
        self._on_written = on_written
        self._partitions: set[date] = set()
        self._target = 0
        self.last_sequence = 0
        self.caught_up = asyncio.Event()

    async def run(self) -> None:
        """Bind the durable consumer, then fetch and ingest batches until cancelled.

        Run it under ``infra.supervise``: nothing was acked that was not committed, so after
        an unexpected error starting over loses nothing."""
        self._target = (await self._js.stream_info(USAGE.name)).state.last_seq
        subscription = await self._js.pull_subscribe(
            f"{USAGE.subject_prefix}.>",
            durable=DURABLE,
            stream=USAGE.name,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self._ack_wait,
                max_ack_pending=max(20_000, 4 * self._batch_size),
            ),
        )
        info = await subscription.consumer_info()
        if info.num_pending == 0 and info.num_ack_pending == 0:
            self.caught_up.set()
        try:
            await self._consume(subscription)
        finally:
            # A pull subscription left to `drain()` waits out its drain timeout.
            await subscription.unsubscribe()

    async def _consume(self, subscription: JetStreamContext.PullSubscription) -> None:
        # The next batch is fetched while this one is written: Python parses NATS messages
        # while PostgreSQL writes, on separate cores. A failure in either stops both.
        fetched: asyncio.Queue[list[Msg] | None] = asyncio.Queue(maxsize=2)
        async with asyncio.TaskGroup() as group:
            group.create_task(self._fetch(subscription, fetched))
            group.create_task(self._ingest_fetched(fetched))

    async def _fetch(
        self,
        subscription: JetStreamContext.PullSubscription,
        fetched: asyncio.Queue[list[Msg] | None],
    ) -> None:
        while True:
            try:
                # An empty list is possible too (the server's "no messages" status).
                await fetched.put(await subscription.fetch(self._batch_size, timeout=1) or None)
            except TimeoutError:
                # Nothing waiting: nats-py raises its own TimeoutError or asyncio's (the
                # builtin, which its own subclasses), depending on where the wait ended.
                await fetched.put(None)
            except NatsError as exc:
                log.warning("usage_fetch_failed", error=type(exc).__name__)
                await asyncio.sleep(0.5)

    async def _ingest_fetched(self, fetched: asyncio.Queue[list[Msg] | None]) -> None:
        while True:
            messages = await fetched.get()
            if messages is None:
                self.caught_up.set()  # nothing was waiting, and all fetched before is written
            else:
                await self.ingest(messages)

    async def ingest(self, messages: list[Msg]) -> None:
        """Write the messages' events, retrying until committed, then ack every message."""
        events, rejected = _decode(messages)
        batch = split(events, oldest_kept_month(self._today(), self._retention_months))
        written = await self._write_until_committed(batch)
        if self._on_written is not None:
            self._on_written(written, batch)
        rejected_ids = {id(msg) for msg in rejected}
        for msg in messages:
            await (msg.term() if id(msg) in rejected_ids else msg.ack())
        self.last_sequence = max(m.metadata.sequence.stream for m in messages)
        if self.last_sequence >= self._target:
            self.caught_up.set()

    async def _write_until_committed(self, batch: Batch) -> Written:
        backoff = 0.1
        while True:
            try:
                await self._ensure_partitions(batch)
                return await write_batch(self._pool, batch)
            except psycopg.Error as exc:
                # PostgreSQL is away (or refuses this batch): nothing was acked, so keep the
                # batch and try again rather than lose it; a crash meanwhile only means
                # JetStream redelivers it.
                self.caught_up.clear()  # /readyz: red until a batch is written again
                log.warning("ledger_write_failed", error=str(exc), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _ensure_partitions(self, batch: Batch) -> None:
        missing = batch.months - self._partitions
        if missing:
            await ensure_partitions(self._pool, missing)
            self._partitions |= missing


def _decode(messages: list[Msg]) -> tuple[list[EventBase], list[Msg]]:
    events: list[EventBase] = []
    rejected: list[Msg] = []
    for msg in messages:
        try:
            events.append(decode(msg.data))
        except UnknownEvent:
            # A newer publisher's event: terminated (not redelivered forever) and logged;
            # `aischool ledger reconcile` shows the difference until this ledger is upgraded.
            log.error("usage_event_rejected", subject=msg.subject)
            rejected.append(msg)
    return events, rejected
