"""The PostgreSQL event store: append with optimistic concurrency, read in global order.

Implements ``usecases.ports.EventStore``; ``adapters/memory.py`` is its in-memory twin."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation
from psycopg.rows import DictRow

from contracts.codec import decode_as, encode
from contracts.events import EventBase
from infra.database import Pool
from services.keys.usecases.ports import ConcurrencyError, SlotClaim, StoredEvent, StreamAppend

NOTIFY_CHANNEL = "keys_events"


class PostgresEventStore:
    """The event store port on PostgreSQL; one transaction per append call."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def append(self, *appends: StreamAppend) -> int:
        """Commit all events of all streams atomically; return the last global position."""
        async with self._pool.connection() as conn, conn.transaction():
            return await append_in(conn, appends)

    async def append_claiming(
        self, appends: Sequence[StreamAppend], claims: Sequence[SlotClaim]
    ) -> int:
        """Append like ``append``, and move each user's key slot; a stale slot writes nothing."""
        async with self._pool.connection() as conn, conn.transaction():
            position = await append_in(conn, appends)
            for claim in claims:
                await _claim(conn, claim)
            return position

    async def read_stream(self, stream_id: str) -> list[StoredEvent]:
        """A stream's events in version order."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT position, stream_id, version, type, data::text AS data"
                " FROM events WHERE stream_id = %s ORDER BY version",
                (stream_id,),
            )
            return [_stored(row) for row in await cursor.fetchall()]

    async def has_event_of_type(self, event_type: str) -> bool:
        """True when at least one event of this type was ever committed."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT 1 FROM events WHERE type = %s LIMIT 1", (event_type,)
            )
            return await cursor.fetchone() is not None

    async def wake_listeners(self) -> None:
        """NOTIFY without a new event: LISTEN loops wake up (e.g. to see they should stop)."""
        async with self._pool.connection() as conn:
            await conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, "wake"))

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        """Committed events after ``position`` in global order."""
        async with self._pool.connection() as conn:
            return await read_after_in(conn, position, limit)


async def append_in(conn: AsyncConnection[DictRow], appends: Sequence[StreamAppend]) -> int:
    """Append inside the caller's transaction (so a handler can add its own writes)."""
    # The position gap problem: an identity value becomes visible in commit order, not in
    # the order it was drawn, so a follower reading "position > checkpoint" could skip an
    # event whose transaction commits after a later one. We take an EXCLUSIVE lock on the
    # table just before inserting: writers queue (readers do not), so positions are drawn
    # and committed in the same order and no gap is ever visible. Appends here are few and
    # small (administrative actions), so serialising them costs nothing that matters.
    await conn.execute("LOCK TABLE events IN EXCLUSIVE MODE")
    last = 0
    for append in appends:
        current = await _current_version(conn, append.stream_id)
        if current != append.expected_version:
            raise ConcurrencyError(
                f"{append.stream_id} is at version {current}, not {append.expected_version}"
            )
        for offset, event in enumerate(append.events, start=1):
            last = await _insert(conn, append.stream_id, current + offset, event)
    await conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, str(last)))
    return last


async def read_after_in(
    conn: AsyncConnection[DictRow], position: int, limit: int
) -> list[StoredEvent]:
    cursor = await conn.execute(
        "SELECT position, stream_id, version, type, data::text AS data"
        " FROM events WHERE position > %s ORDER BY position LIMIT %s",
        (position, limit),
    )
    return [_stored(row) for row in await cursor.fetchall()]


async def _current_version(conn: AsyncConnection[DictRow], stream_id: str) -> int:
    cursor = await conn.execute(
        "SELECT coalesce(max(version), 0) AS v FROM events WHERE stream_id = %s", (stream_id,)
    )
    row = await cursor.fetchone()
    return int(_field(row, "v"))


async def _insert(
    conn: AsyncConnection[DictRow], stream_id: str, version: int, event: EventBase
) -> int:
    try:
        cursor = await conn.execute(
            "INSERT INTO events (stream_id, version, event_id, type, data, occurred_at)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING position",
            (
                stream_id,
                version,
                event.event_id,
                event.type,
                encode(event).decode(),
                event.occurred_at,
            ),
        )
    except UniqueViolation as exc:
        raise ConcurrencyError(f"{stream_id} version {version} was written concurrently") from exc
    return int(_field(await cursor.fetchone(), "position"))


async def _claim(conn: AsyncConnection[DictRow], claim: SlotClaim) -> None:
    if claim.expected is None:
        cursor = await conn.execute(
            "INSERT INTO key_slots (user_id, key_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (claim.user_id, claim.key_id),
        )
    else:
        cursor = await conn.execute(
            "UPDATE key_slots SET key_id = %s WHERE user_id = %s AND key_id = %s",
            (claim.key_id, claim.user_id, claim.expected),
        )
    if cursor.rowcount != 1:
        raise ConcurrencyError(f"the key slot of user {claim.user_id} was taken concurrently")


def _field(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, dict) else row[0]


def _stored(row: Any) -> StoredEvent:
    payload = str(row["data"]).encode()
    return StoredEvent(
        position=int(row["position"]),
        stream_id=str(row["stream_id"]),
        version=int(row["version"]),
        event=decode_as(str(row["type"]), payload),
        payload=payload,
    )
