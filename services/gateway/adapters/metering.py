"""Publish usage events to JetStream from a queue, off the request path, losing none.

``record`` never blocks a request: it appends the event to the write-ahead journal (one
``write()``, see ``journal.py``) and queues it, so a killed process leaves it on disk.
The publisher sends each event with ``Nats-Msg-Id`` =
its request id (or event id); if NATS is away or does not ack in time, the event goes to the
fsync'd spool instead, and the drainer re-publishes the spool once NATS answers again. An
event can so be published twice (a late ack, a crash before the spool file is deleted):
JetStream's duplicate window drops the second copy, and the ledger dedupes by request id.

Each message also names its publishing gateway (``Ais-Gateway-Id``), so a gateway following
USAGE can pass over its own ``RequestMetered`` without decoding it (``own_settled``); the
event itself is the same for every reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from uuid import UUID

import structlog
from nats.aio.msg import Msg
from nats.errors import Error as NatsError

from contracts.codec import EVENT_TYPE, MSG_ID, UnknownEvent, decode, encode, headers, subject
from contracts.events import EventBase, RequestMetered
from services.gateway.adapters.journal import Journal, intent_line
from services.gateway.adapters.spool import Spool

log = structlog.get_logger(__name__)

BATCH = 256
SYNC_SECONDS = 1.0
Publish = Callable[[str, bytes, dict[str, str]], Awaitable[object]]
# A batch of (subject, data, headers) -> acked or not, each (``publisher.BatchPublisher``).
PublishBatch = Callable[[list[tuple[str, bytes, dict[str, str]]]], Awaitable[list[bool]]]
# An event, its encoded line and its journal segment (None when the journal write failed).
Item = tuple[EventBase, bytes, int | None]
GATEWAY_HEADER = "Ais-Gateway-Id"
METERED = "RequestMetered"


class Meter:
    """A queue of usage events, its publisher and the spool drainer."""

    def __init__(
        self,
        publish: Publish,
        connected: Callable[[], bool],
        spool: Spool,
        observe: Callable[[EventBase], None] = lambda event: None,
        journal: Journal | None = None,
        *,
        gateway_id: str | None = None,
        publish_batch: PublishBatch | None = None,
    ) -> None:
        self._publish = publish
        self._publish_batch = publish_batch
        self._gateway = {GATEWAY_HEADER: gateway_id} if gateway_id is not None else {}
        self._subjects: dict[str, str] = {}  # by event type
        self._observe = observe
        self._connected = connected
        self.spool = spool
        self.journal = journal
        self._queue: asyncio.Queue[Item] = asyncio.Queue()
        self._spooled = asyncio.Event()
        self.published = 0
        self.publish_failures = 0

    def record(self, event: EventBase) -> None:
        """Journal and queue an event for publishing (after ``observe`` counted it)."""
        self._observe(event)
        line = encode(event)
        segment = None
        if self.journal is not None:
            try:
                segment = self.journal.write(line)
            except OSError as exc:
                # A full disk must not fail a request that was served: the event is still
                # queued, only without crash protection.
                log.warning("usage_journal_failed", error=type(exc).__name__)
        self._queue.put_nowait((event, line, segment))

    def intend(self, event: RequestMetered) -> int | None:
        """Journal a request's estimate before it is forwarded; hand the result to ``fulfil``."""
        if self.journal is None:
            return None
        try:
            return self.journal.write(intent_line(encode(event)))
        except OSError as exc:
            log.warning("usage_journal_failed", error=type(exc).__name__)
            return None

    def fulfil(self, intent: object) -> None:
        """The request's outcome is journaled, or it never reached the upstream."""
        if isinstance(intent, int) and self.journal is not None:
            self.journal.resolve(intent)

    @property
    def queued(self) -> int:
        """Events waiting in memory for the publisher."""
        return self._queue.qsize()

    def spooled_events(self) -> list[EventBase]:
        """Events left in the spool by an earlier run, each once (replayed at start-up)."""
        events: dict[object, EventBase] = {}
        for line in self.spool.read_all():
            try:
                event = decode(line)
            except UnknownEvent:
                # A line torn by a crash mid-write was never fsync'd, so never acknowledged.
                log.warning("spool_line_skipped", size=len(line))
                continue
            # A journaled event may also have been spooled before the crash.
            events.setdefault(event.event_id, event)
        return list(events.values())

    async def run(self) -> None:
        """Publish queued events in batches; start the drainer; run until cancelled."""
        drainer = asyncio.create_task(self._drain_forever(), name="gateway-spool-drainer")
        syncer = asyncio.create_task(self._sync_forever(), name="gateway-journal-sync")
        if self.spool.has_data():
            self._spooled.set()
        try:
            while True:
                batch = [await self._queue.get()]
                while len(batch) < BATCH and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                try:
                    await self._deliver(batch)
                except asyncio.CancelledError:
                    # Stopping mid-publish: spool the whole batch; what did reach JetStream
                    # is dropped there as a duplicate when the spool is drained.
                    self.spool.append([line for _, line, _ in batch])
                    self._resolve(batch)
                    raise
        finally:
            for task in (drainer, syncer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def flush(self) -> None:
        """At shutdown: publish or spool whatever is still queued, then close the journal."""
        batch = []
        while not self._queue.empty():
            batch.append(self._queue.get_nowait())
        if batch:
            await self._deliver(batch)
        if self.journal is not None:
            self.journal.close()

    async def _deliver(self, batch: list[Item]) -> None:
        # While the spool holds events, new ones join it rather than overtake it, and we
        # do not pay a publish time-out per event during an outage.
        if self._spooled.is_set() or not self._connected():
            await self._to_spool(batch)
        else:
            results = await self._send_all(batch)
            failed = [item for item, ok in zip(batch, results, strict=True) if not ok]
            if failed:
                await self._to_spool(failed)
        # Every event is now acked or fsync'd in the spool: the journal may forget it.
        self._resolve(batch)

    def _resolve(self, batch: list[Item]) -> None:
        if self.journal is None:
            return
        for _, _, segment in batch:
            if segment is not None:
                self.journal.resolve(segment)

    async def _send_all(self, batch: list[Item]) -> list[bool]:
        if self._publish_batch is None:
            return list(await asyncio.gather(*(self._send(item) for item in batch)))
        events = [(self._subject(event), line, self._headers(event)) for event, line, _ in batch]
        try:
            results = await self._publish_batch(events)
        except (NatsError, TimeoutError) as exc:
            log.warning("usage_publish_failed", error=type(exc).__name__, events=len(batch))
            results = [False] * len(batch)
        acked = sum(results)
        self.published += acked
        if acked < len(results):
            self.publish_failures += len(results) - acked
            log.warning("usage_publish_failed", error="no ack in time", events=len(results) - acked)
        return results

    async def _send(self, item: Item) -> bool:
        event, line, _ = item
        return await self._send_raw(self._subject(event), line, self._headers(event))

    def _subject(self, event: EventBase) -> str:
        found = self._subjects.get(event.type)
        if found is None:
            found = self._subjects[event.type] = subject(event)
        return found

    def _headers(self, event: EventBase) -> dict[str, str]:
        return headers(event) | self._gateway

    async def _send_raw(self, subj: str, data: bytes, hdrs: dict[str, str]) -> bool:
        try:
            await self._publish(subj, data, hdrs)
        except (NatsError, TimeoutError) as exc:
            log.warning("usage_publish_failed", error=type(exc).__name__)
            self.publish_failures += 1
            return False
        self.published += 1
        return True

    async def _to_spool(self, batch: list[Item]) -> None:
        await asyncio.to_thread(self.spool.append, [line for _, line, _ in batch])
        self._spooled.set()
        log.info("usage_spooled", events=len(batch))

    async def _sync_forever(self) -> None:
        # Bounds what a power loss can take to about a second of events; a process crash
        # loses none (the page cache keeps what was written).
        while self.journal is not None:
            await asyncio.sleep(SYNC_SECONDS)
            if self.journal.take_dirty():
                with contextlib.suppress(OSError):  # rotated meanwhile: the new file is synced next
                    await asyncio.to_thread(os.fsync, self.journal.fd)

    async def _drain_forever(self) -> None:
        backoff = 0.1
        while True:
            await self._spooled.wait()
            if await self._drain_once():
                backoff = 0.1
            else:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _drain_once(self) -> bool:
        """Publish the spool; True when it is empty afterwards."""
        if not self._connected():
            return False
        lines = await asyncio.to_thread(self.spool.take)
        for line in lines:
            try:
                event = decode(line)
            except UnknownEvent:
                continue
            if not await self._send_raw(self._subject(event), line, self._headers(event)):
                return False
        await asyncio.to_thread(self.spool.done)
        if lines:
            log.info("usage_spool_published", events=len(lines))
        if not self.spool.has_data():
            self._spooled.clear()
        return True


def own_settled(gateway_id: str, settled: set[UUID]) -> Callable[[Msg], bool]:
    """A USAGE message that is this gateway's own ``RequestMetered`` of a request it settled
    (so counted) already: forgotten from ``settled`` and skipped undecoded, as the budgets
    would skip it decoded. After a restart ``settled`` holds only the spool's, so every
    earlier request of ours is decoded and counted once."""

    def skip(msg: Msg) -> bool:
        found = msg.headers or {}
        if found.get(GATEWAY_HEADER) != gateway_id or found.get(EVENT_TYPE) != METERED:
            return False
        try:
            request_id = UUID(found[MSG_ID])
        except (KeyError, ValueError):
            return False
        if request_id not in settled:
            return False
        settled.discard(request_id)
        return True

    return skip
