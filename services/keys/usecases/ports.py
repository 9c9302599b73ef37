"""The event store port: what use cases, the projector and the relay need from a store.

Two implementations honour it, checked by one contract test (tests/keys/test_store_contract.py):
``adapters.store.PostgresEventStore`` (the real one) and ``adapters.memory.MemoryEventStore``
(for domain and use-case tests without PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from contracts.events import EventBase


class ConcurrencyError(Exception):
    """Another writer appended to the stream (or took the key slot) first; reload and decide
    again."""


@dataclass(frozen=True)
class StreamAppend:
    """Events for one stream, expected to follow ``expected_version`` (0 for a new stream).

    With no events it only checks the version, in the same transaction as the others."""

    stream_id: str
    expected_version: int
    events: Sequence[EventBase]


@dataclass(frozen=True)
class SlotClaim:
    """Move ``user_id``'s key slot from ``expected`` (None: no key yet) to ``key_id``.

    The domain decides whether a user may get a key; the slot only makes two writers that
    decided at once (two replicas, two administrators) collide instead of both winning."""

    user_id: str
    expected: UUID | None
    key_id: UUID


@dataclass(frozen=True)
class StoredEvent:
    """An event as committed, with its place in the stream and in the global order."""

    position: int
    stream_id: str
    version: int
    event: EventBase
    payload: bytes


class EventStore(Protocol):
    """Appends events atomically with optimistic concurrency; reads them in global order."""

    async def append(self, *appends: StreamAppend) -> int:
        """Commit all events of all streams atomically or raise ``ConcurrencyError`` and
        commit none; return the last global position (0 when there were no events)."""
        ...

    async def append_claiming(
        self, appends: Sequence[StreamAppend], claims: Sequence[SlotClaim]
    ) -> int:
        """Append like ``append`` and move each user's key slot; a stale slot writes nothing."""
        ...

    async def read_stream(self, stream_id: str) -> list[StoredEvent]:
        """A stream's events in version order."""
        ...

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        """At most ``limit`` committed events after ``position``, in global order."""
        ...

    async def has_event_of_type(self, event_type: str) -> bool:
        """True when at least one event of this type was ever committed."""
        ...
