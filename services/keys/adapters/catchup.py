"""Keep the read model at the event store's head: after our appends and on NOTIFY."""

from __future__ import annotations

import asyncio

import psycopg

from services.keys.adapters.store import NOTIFY_CHANNEL
from services.keys.domain.projection import ReadModel
from services.keys.usecases.ports import EventStore


class Projector:
    """Applies committed events to a ``ReadModel`` in global order, once each."""

    def __init__(self, store: EventStore, model: ReadModel, batch_size: int = 1000) -> None:
        self.store = store
        self.model = model
        self._batch_size = batch_size
        self._lock = asyncio.Lock()
        self.caught_up = asyncio.Event()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Ask ``follow()`` to return within about a second."""
        self._stopping.set()

    async def catch_up(self) -> int:
        """Apply every event committed after the model's position; return the new position."""
        async with self._lock:
            while True:
                batch = await self.store.read_after(self.model.position, self._batch_size)
                for stored in batch:
                    self.model.apply(
                        stored.position, stored.stream_id, stored.version, stored.event
                    )
                if len(batch) < self._batch_size:
                    self.caught_up.set()
                    return self.model.position

    async def follow(self, database_url: str) -> None:
        """Catch up whenever another writer (another replica, the CLI) commits; poll each 1 s.

        A PostgreSQL error ends it: run it under ``infra.supervise``, which logs, turns
        ``caught_up`` (readiness) off and runs it again."""
        if self._stopping.is_set():
            return
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as listener:
            await listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
            while not self._stopping.is_set():
                await self.catch_up()
                async for _ in listener.notifies(timeout=1.0, stop_after=1):
                    pass
