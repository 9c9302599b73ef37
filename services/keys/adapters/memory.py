"""The event store in memory: the same contract as PostgreSQL's, for tests without a server.

One asyncio loop, no awaits inside a commit: each append is atomic by construction. Every
call first yields to the loop once, as a round trip to PostgreSQL would, so use cases run
concurrently interleave (and race) as they do against the real store. The contract test
runs the same scenarios against this and ``PostgresEventStore``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from uuid import UUID

from contracts.codec import encode
from services.keys.usecases.ports import ConcurrencyError, SlotClaim, StoredEvent, StreamAppend


class MemoryEventStore:
    """Events in a list in commit order, streams' versions and the users' key slots."""

    def __init__(self) -> None:
        self._log: list[StoredEvent] = []
        self._versions: dict[str, int] = {}
        self._slots: dict[str, UUID] = {}
        self._event_ids: set[UUID] = set()

    async def append(self, *appends: StreamAppend) -> int:
        """Commit all events of all streams atomically; return the last global position."""
        await asyncio.sleep(0)
        return self._commit(appends, ())

    async def append_claiming(
        self, appends: Sequence[StreamAppend], claims: Sequence[SlotClaim]
    ) -> int:
        """Append like ``append``, and move each user's key slot; a stale slot writes nothing."""
        await asyncio.sleep(0)
        return self._commit(appends, claims)

    async def read_stream(self, stream_id: str) -> list[StoredEvent]:
        """A stream's events in version order."""
        await asyncio.sleep(0)
        return [s for s in self._log if s.stream_id == stream_id]

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        """Committed events after ``position`` in global order."""
        await asyncio.sleep(0)
        return [s for s in self._log if s.position > position][:limit]

    async def has_event_of_type(self, event_type: str) -> bool:
        """True when at least one event of this type was ever committed."""
        await asyncio.sleep(0)
        return any(s.event.type == event_type for s in self._log)

    def _commit(self, appends: Sequence[StreamAppend], claims: Sequence[SlotClaim]) -> int:
        # Stage everything, check everything, then publish the staged state: a failure
        # anywhere leaves the store as it was, as a rolled-back transaction would.
        versions, slots, ids = dict(self._versions), dict(self._slots), set(self._event_ids)
        staged: list[StoredEvent] = []
        position = self._log[-1].position if self._log else 0
        for append in appends:
            current = versions.get(append.stream_id, 0)
            if current != append.expected_version:
                raise ConcurrencyError(
                    f"{append.stream_id} is at version {current}, not {append.expected_version}"
                )
            for event in append.events:
                if event.event_id in ids:
                    raise ConcurrencyError(f"event {event.event_id} was already appended")
                ids.add(event.event_id)
                current, position = current + 1, position + 1
                staged.append(
                    StoredEvent(position, append.stream_id, current, event, encode(event))
                )
            versions[append.stream_id] = current
        for claim in claims:
            _claim(slots, claim)
        self._log += staged
        self._versions, self._slots, self._event_ids = versions, slots, ids
        return staged[-1].position if staged else 0


def _claim(slots: dict[str, UUID], claim: SlotClaim) -> None:
    if slots.get(claim.user_id) != claim.expected:
        raise ConcurrencyError(f"the key slot of user {claim.user_id} was taken concurrently")
    slots[claim.user_id] = claim.key_id
