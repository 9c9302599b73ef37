"""The durable USAGE consumer: fetch a batch, write it in one transaction, commit, then ack.

A pull consumer (not FastStream's subscriber) because the batch is the unit of work here: we
need the whole fetched list in hand to write it in one transaction and to ack it only after
that commit, with redelivery (and ON CONFLICT) covering a crash in between. Batches come from
``pull.BatchPuller`` and are decoded by ``decode.read_usage``: both exist because nats-py's
fetch and pydantic's validation were most of the CPU an event cost.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TypeVar

import psycopg
import structlog
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy
from nats.js.errors import NotFoundError

from contracts.codec import UnknownEvent
from contracts.events import EventBase
from contracts.streams import USAGE
from infra.database import Pool
from infra.supervise import Backoff
from services.ledger.adapters.pull import BatchPuller, Delivery
from services.ledger.adapters.store import (
    DeadLetter,
    Written,
    ensure_partitions,
    record_dead_letters,
    write_batch,
)
from services.ledger.domain.decode import RequestRow, read_usage
from services.ledger.domain.inorder import InOrder
from services.ledger.domain.rows import Batch, ZoneOf, oldest_kept_month, split, utc_everywhere

log = structlog.get_logger(__name__)

DURABLE = "ledger"
# Errors that mean "PostgreSQL is away", not "PostgreSQL refuses this": retried, never
# dead-lettered. (A pool time-out is an OperationalError too.)
TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError)
T = TypeVar("T")
Decoded = list[tuple[Delivery, EventBase | RequestRow]]
Fetched = tuple[list[Delivery], Decoded, list[DeadLetter]]


class UsageConsumer:
    """Ingests ``USAGE`` into the ledger; run ``run()`` as a background task."""

    def __init__(
        self,
        nc: Client,
        pool: Pool,
        *,
        today: Callable[[], date],
        retention_months: int = 0,
        batch_size: int = 5000,
        writers: int = 2,
        ack_wait: float = 15,
        on_written: Callable[[Written, Batch], None] | None = None,
        zone_of: ZoneOf = utc_everywhere,
        on_dead: Callable[[int], None] | None = None,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._pool = pool
        self._today = today
        self._retention_months = retention_months
        self._batch_size = batch_size
        self._writers = writers
        self._ack_wait = ack_wait
        self._on_written = on_written
        self._zone_of = zone_of
        self._on_dead = on_dead
        self._partitions: set[date] = set()
        self._puller = BatchPuller(nc, USAGE.name, DURABLE)
        self._target = 0
        self.last_sequence = 0
        self.caught_up = asyncio.Event()

    async def run(self) -> None:
        """Bind the durable consumer, then fetch and ingest batches until cancelled.

        Run it under ``infra.supervise``: nothing was acked that was not committed, so after
        an unexpected error starting over loses nothing."""
        self._target = (await self._js.stream_info(USAGE.name)).state.last_seq
        info = await self._bind()
        if info.num_pending == 0 and info.num_ack_pending == 0:
            self.caught_up.set()
        puller = self._puller = BatchPuller(self._nc, USAGE.name, DURABLE)
        await puller.start()
        try:
            await self._consume(puller)
        finally:
            await puller.stop()

    async def _bind(self) -> ConsumerInfo:
        """The durable consumer's info, creating it first if it does not exist."""
        try:
            info: ConsumerInfo = await self._js.consumer_info(USAGE.name, DURABLE)
            return info
        except NotFoundError:
            pass
        config = ConsumerConfig(
            name=DURABLE,
            durable_name=DURABLE,
            filter_subject=f"{USAGE.subject_prefix}.>",
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self._ack_wait,
            max_ack_pending=max(20_000, 4 * self._batch_size),
        )
        created: ConsumerInfo = await self._js.add_consumer(USAGE.name, config=config)
        return created

    async def _consume(self, puller: BatchPuller) -> None:
        # The next batch is fetched and decoded while earlier ones are written, and
        # ``writers`` batches are written at once, each in its own transaction: Python parses
        # NATS messages, PostgreSQL writes one batch and flushes another's commit, all at the
        # same time. Progress (last_sequence, caught_up) still moves in fetch order.
        fetched: asyncio.Queue[tuple[int, Fetched | None]] = asyncio.Queue(self._writers + 1)
        order = InOrder()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._fetch(puller, fetched, order))
            for _ in range(self._writers):
                group.create_task(self._ingest_fetched(fetched, order))

    async def _fetch(
        self,
        puller: BatchPuller,
        fetched: asyncio.Queue[tuple[int, Fetched | None]],
        order: InOrder,
    ) -> None:
        while True:
            try:
                messages = await puller.fetch(self._batch_size, wait=1)
            except NatsError as exc:
                log.warning("usage_fetch_failed", error=type(exc).__name__)
                await asyncio.sleep(0.5)
                continue
            # Nothing waiting (the request expired, or the server had no messages): None.
            batch = (messages, *_decode(messages)) if messages else None
            await fetched.put((order.ticket(), batch))

    async def _ingest_fetched(
        self, fetched: asyncio.Queue[tuple[int, Fetched | None]], order: InOrder
    ) -> None:
        while True:
            ticket, batch = await fetched.get()
            if batch is None:
                # Nothing was waiting: caught up once all fetched before is written.
                order.finish(ticket, self.caught_up.set)
            else:
                last = await self.ingest(*batch)
                order.finish(ticket, functools.partial(self._advance, last))

    def _advance(self, last: int) -> None:
        self.last_sequence = last
        if last >= self._target:
            self.caught_up.set()

    async def ingest(
        self, messages: list[Delivery], decoded: Decoded, dead: list[DeadLetter]
    ) -> int:
        """Write the decoded events, retrying until committed, then ack every message;
        return the batch's last stream sequence.

        A message that cannot be stored (unreadable, or refused by PostgreSQL) becomes a dead
        letter, is terminated and counted; the rest of its batch is written all the same."""
        oldest = oldest_kept_month(self._today(), self._retention_months)
        written, batch, refused = await self._until_committed(lambda: self._write(decoded, oldest))
        dead += refused
        if dead:
            await self._until_committed(lambda: record_dead_letters(self._pool, dead))
            for letter in dead:
                log.error(
                    "usage_event_dead_lettered",
                    sequence=letter.sequence,
                    subject=letter.subject,
                    error=letter.error[:300],
                )
            if self._on_dead is not None:
                self._on_dead(len(dead))
        if self._on_written is not None:
            self._on_written(written, batch)
        await self._puller.settle(messages, {letter.sequence for letter in dead})
        return max(delivery.sequence for delivery in messages)

    async def _until_committed(self, write: Callable[[], Awaitable[T]]) -> T:
        backoff = Backoff()
        while True:
            try:
                return await write()
            except TRANSIENT as exc:
                # PostgreSQL is away: nothing was acked, so keep the batch and try again
                # rather than lose it; a crash meanwhile only means JetStream redelivers it.
                self.caught_up.clear()  # /readyz: red until a batch is written again
                delay = backoff.next()
                log.warning("ledger_write_failed", error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)

    async def _write(
        self, decoded: Decoded, oldest: date | None
    ) -> tuple[Written, Batch, list[DeadLetter]]:
        batch = split([event for _, event in decoded], oldest, self._zone_of)
        try:
            return await self._write_batch(batch), batch, []
        except TRANSIENT:
            raise
        except Exception as exc:  # refused by PostgreSQL, or by our own row mapping
            log.warning("ledger_batch_refused", error=type(exc).__name__, events=len(decoded))
        kept, dead = Batch(), list[DeadLetter]()
        written = await self._write_halves(decoded, oldest, kept, dead)
        return written, kept, dead

    async def _write_halves(
        self, refused: Decoded, oldest: date | None, kept: Batch, dead: list[DeadLetter]
    ) -> Written:
        """Write each half of a refused batch, and each half of a refused half: the events
        refused on their own are the poison (``dead``), the rest is written (``kept``, and
        what was new is returned). One poison event among n costs about 2 log2(n)
        transactions instead of n, which matters for batches of thousands."""
        written = Written(0, 0)
        middle = len(refused) // 2
        for half in (refused[:middle], refused[middle:]):
            if not half:
                continue
            part = split([event for _, event in half], oldest, self._zone_of)
            try:
                done = await self._write_batch(part)
            except TRANSIENT:
                raise
            except Exception as exc:  # refused: halve it again, or a dead letter if alone
                if len(half) == 1:
                    dead.append(_dead_letter(half[0][0], f"{type(exc).__name__}: {exc}"))
                    continue
                done = await self._write_halves(half, oldest, kept, dead)
            else:
                kept.requests += part.requests
                kept.chats += part.chats
                kept.expired += part.expired
            written = Written(written.requests + done.requests, written.chats + done.chats)
        return written

    async def _write_batch(self, batch: Batch) -> Written:
        await self._ensure_partitions(batch)
        return await write_batch(self._pool, batch)

    async def _ensure_partitions(self, batch: Batch) -> None:
        missing = batch.months - self._partitions
        if missing:
            await ensure_partitions(self._pool, missing)
            self._partitions |= missing


def _decode(messages: list[Delivery]) -> tuple[Decoded, list[DeadLetter]]:
    decoded: Decoded = []
    dead: list[DeadLetter] = []
    for msg in messages:
        try:
            decoded.append((msg, read_usage(msg.data)))
        except UnknownEvent as exc:
            # A newer publisher's event (or garbage): a dead letter, not redelivered forever;
            # `aischool ledger reconcile` shows the difference until this ledger is upgraded.
            dead.append(_dead_letter(msg, f"unreadable event: {exc}"))
    return decoded, dead


def _dead_letter(msg: Delivery, error: str) -> DeadLetter:
    return DeadLetter(msg.sequence, msg.subject.decode(errors="replace"), msg.data, error)
