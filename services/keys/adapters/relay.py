"""Committed events -> JetStream ``KEYS``, in commit order, from a checkpoint.

Delivery is at-least-once from here and exactly-once in the stream: every event is published
with ``Nats-Msg-Id`` = its event id and the checkpoint moves only after JetStream has acked,
so a crash between the two re-publishes a few events that JetStream's duplicate window drops.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import structlog
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from contracts.codec import headers, subject
from infra.database import Pool
from infra.supervise import Backoff
from services.keys.adapters.store import NOTIFY_CHANNEL, read_after_in
from services.keys.usecases.ports import StoredEvent

log = structlog.get_logger(__name__)

RELAY_NAME = "jetstream"


class Relay:
    """Publishes the event log to JetStream; run ``run()`` as a background task."""

    def __init__(
        self,
        pool: Pool,
        js: JetStreamContext,
        database_url: str,
        batch_size: int = 500,
    ) -> None:
        self._pool = pool
        self._js = js
        self._database_url = database_url
        self._batch_size = batch_size
        self.position = 0
        self._checkpoint_loaded = False
        self.caught_up = asyncio.Event()
        self._stopping = asyncio.Event()
        self.leading = False

    def stop(self) -> None:
        """Ask ``run()`` to return within about a second (cancelling it inside psycopg's
        ``notifies()`` has been seen to hang)."""
        self._stopping.set()

    async def run(self) -> None:
        """Publish what is pending, then wait for NOTIFY (or a 1 s poll) and repeat, until
        ``stop()``. A PostgreSQL error ends it: run it under ``infra.supervise``, which logs,
        turns ``caught_up`` (readiness) off and runs it again with a new listener."""
        if self._stopping.is_set():
            return
        # Leadership is a session lock on the listener: a new listener must win it again.
        self.leading = False
        async with await psycopg.AsyncConnection.connect(
            self._database_url, autocommit=True
        ) as listener:
            await listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
            backoff = Backoff(maximum=2.0)
            while not self._stopping.is_set():
                try:
                    if await self._lead(listener):
                        await self.publish_pending()
                    else:
                        await self._follow_leader()
                    backoff.reset()
                except (NatsError, TimeoutError) as exc:
                    # NATS is away: keep the checkpoint and the lock, retry; the client
                    # reconnects itself. Not caught up meanwhile: /readyz says so.
                    self.caught_up.clear()
                    delay = backoff.next()
                    log.warning("relay_publish_failed", error=type(exc).__name__, retry_in=delay)
                    await asyncio.sleep(delay)
                    continue
                async for _ in listener.notifies(timeout=1.0, stop_after=1):
                    pass

    async def _lead(self, listener: psycopg.AsyncConnection[Any]) -> bool:
        """One relay publishes at a time: the holder of a session lock on the listener.

        Two publishers would not duplicate events (Nats-Msg-Id), but could each hold a stale
        checkpoint across a long NATS outage; a standby takes over when the leader's
        connection closes, i.e. when its process stops or dies.
        """
        if not self.leading:
            cursor = await listener.execute(
                "SELECT pg_try_advisory_lock(hashtext(%s)) AS locked", (f"relay:{RELAY_NAME}",)
            )
            row = await cursor.fetchone()
            self.leading = bool(row and row[0])
            # A new leader takes over where the previous one's checkpoint stands.
            self._checkpoint_loaded = False
        return self.leading

    async def _follow_leader(self) -> None:
        """As a standby, we are caught up once the leader's checkpoint reaches the log's end."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT coalesce((SELECT position FROM relay_checkpoints WHERE name = %s), 0)"
                " >= coalesce((SELECT max(position) FROM events), 0) AS done",
                (RELAY_NAME,),
            )
            row = await cursor.fetchone()
        if row and row["done"]:
            self.caught_up.set()

    async def publish_pending(self) -> int:
        """Publish every committed event after the checkpoint; return how many."""
        published = 0
        while True:
            batch = await self._next_batch()
            if not batch:
                self.caught_up.set()
                return published
            try:
                for stored in batch:
                    await self._publish(stored)
                    self.position = stored.position
                    published += 1
            finally:
                await self._save_checkpoint(self.position)

    async def _publish(self, stored: StoredEvent) -> None:
        event = stored.event
        await self._js.publish(subject(event), stored.payload, timeout=5, headers=headers(event))

    async def _next_batch(self) -> list[StoredEvent]:
        async with self._pool.connection() as conn:
            # The checkpoint is read once per leadership: while we lead, only we move it.
            if not self._checkpoint_loaded:
                cursor = await conn.execute(
                    "SELECT position FROM relay_checkpoints WHERE name = %s", (RELAY_NAME,)
                )
                row = await cursor.fetchone()
                self.position = int(row["position"]) if row else 0
                self._checkpoint_loaded = True
            return await read_after_in(conn, self.position, self._batch_size)

    async def _save_checkpoint(self, position: int) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO relay_checkpoints (name, position) VALUES (%s, %s)"
                " ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                (RELAY_NAME, position),
            )
