"""Publish usage events to JetStream from a queue, off the request path, losing none.

``record`` never blocks a request. The publisher sends each event with ``Nats-Msg-Id`` =
its request id (or event id); if NATS is away or does not ack in time, the event goes to the
fsync'd spool instead, and the drainer re-publishes the spool once NATS answers again. An
event can so be published twice (a late ack, a crash before the spool file is deleted):
JetStream's duplicate window drops the second copy, and the ledger dedupes by request id.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
from nats.errors import Error as NatsError

from contracts.codec import UnknownEvent, decode, encode, headers, subject
from contracts.events import EventBase
from services.gateway.spool import Spool

log = structlog.get_logger(__name__)

BATCH = 256
Publish = Callable[[str, bytes, dict[str, str]], Awaitable[object]]


class Meter:
    """A queue of usage events, its publisher and the spool drainer."""

    def __init__(
        self,
        publish: Publish,
        connected: Callable[[], bool],
        spool: Spool,
        observe: Callable[[EventBase], None] = lambda event: None,
    ) -> None:
        self._publish = publish
        self._observe = observe
        self._connected = connected
        self.spool = spool
        self._queue: asyncio.Queue[EventBase] = asyncio.Queue()
        self._spooled = asyncio.Event()
        self.published = 0
        self.publish_failures = 0

    def record(self, event: EventBase) -> None:
        """Queue an event for publishing (after ``observe`` counted it); returns at once."""
        self._observe(event)
        self._queue.put_nowait(event)

    @property
    def queued(self) -> int:
        """Events waiting in memory for the publisher."""
        return self._queue.qsize()

    def spooled_events(self) -> list[EventBase]:
        """Events left in the spool by an earlier run (replayed at start-up)."""
        events: list[EventBase] = []
        for line in self.spool.read_all():
            try:
                events.append(decode(line))
            except UnknownEvent:
                # A line torn by a crash mid-write was never fsync'd, so never acknowledged.
                log.warning("spool_line_skipped", size=len(line))
        return events

    async def run(self) -> None:
        """Publish queued events in batches; start the drainer; run until cancelled."""
        drainer = asyncio.create_task(self._drain_forever(), name="gateway-spool-drainer")
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
                    self.spool.append([encode(e) for e in batch])
                    raise
        finally:
            drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drainer

    async def flush(self) -> None:
        """At shutdown: publish or spool whatever is still queued."""
        batch = []
        while not self._queue.empty():
            batch.append(self._queue.get_nowait())
        if batch:
            await self._deliver(batch)

    async def _deliver(self, batch: list[EventBase]) -> None:
        # While the spool holds events, new ones join it rather than overtake it, and we
        # do not pay a publish time-out per event during an outage.
        if self._spooled.is_set() or not self._connected():
            await self._to_spool(batch)
            return
        results = await asyncio.gather(*(self._send(e) for e in batch))
        failed = [event for event, ok in zip(batch, results, strict=True) if not ok]
        if failed:
            await self._to_spool(failed)

    async def _send(self, event: EventBase) -> bool:
        return await self._send_raw(subject(event), encode(event), headers(event))

    async def _send_raw(self, subj: str, data: bytes, hdrs: dict[str, str]) -> bool:
        try:
            await self._publish(subj, data, hdrs)
        except (NatsError, TimeoutError) as exc:
            log.warning("usage_publish_failed", error=type(exc).__name__)
            self.publish_failures += 1
            return False
        self.published += 1
        return True

    async def _to_spool(self, batch: list[EventBase]) -> None:
        await asyncio.to_thread(self.spool.append, [encode(e) for e in batch])
        self._spooled.set()
        log.info("usage_spooled", events=len(batch))

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
            if not await self._send_raw(subject(event), line, headers(event)):
                return False
        await asyncio.to_thread(self.spool.done)
        if lines:
            log.info("usage_spool_published", events=len(lines))
        if not self.spool.has_data():
            self._spooled.clear()
        return True
