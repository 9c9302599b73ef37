"""The read model kept at the event store's head: caught up after our appends (and, by the
adapter in ``adapters/listen.py``, on every NOTIFY of another writer). No I/O of its own."""

from __future__ import annotations

import asyncio

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

    @property
    def stopping(self) -> bool:
        """True once ``stop()`` was called."""
        return self._stopping.is_set()

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
