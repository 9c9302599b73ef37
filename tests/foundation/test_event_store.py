"""The keys service's event store: optimistic concurrency and global order."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from contracts.events import KeyRevoked
from infra.database import Pool
from services.keys.adapters.store import PostgresEventStore
from services.keys.usecases.ports import ConcurrencyError, StreamAppend


def revoked(key_id: uuid.UUID, reason: str = "test") -> KeyRevoked:
    return KeyRevoked(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        key_id=key_id,
        revoked_by="admin",
        reason=reason,
    )


async def test_two_concurrent_appends_at_the_same_version_one_wins(
    pool: Pool,
) -> None:
    store = PostgresEventStore(pool)
    key = uuid.uuid4()
    await store.append(StreamAppend(f"key:{key}", 0, [revoked(key)]))

    results = await asyncio.gather(
        store.append(StreamAppend(f"key:{key}", 1, [revoked(key, "a")])),
        store.append(StreamAppend(f"key:{key}", 1, [revoked(key, "b")])),
        return_exceptions=True,
    )

    assert sum(isinstance(r, ConcurrencyError) for r in results) == 1
    assert sum(isinstance(r, int) for r in results) == 1
    assert [s.version for s in await store.read_stream(f"key:{key}")] == [1, 2]


async def test_append_ahead_of_the_stream_is_rejected(pool: Pool) -> None:
    store = PostgresEventStore(pool)
    key = uuid.uuid4()
    with pytest.raises(ConcurrencyError, match="at version 0, not 3"):
        await store.append(StreamAppend(f"key:{key}", 3, [revoked(key)]))
    assert await store.read_stream(f"key:{key}") == []


async def test_a_failed_multi_stream_append_writes_nothing(pool: Pool) -> None:
    store = PostgresEventStore(pool)
    first, second = uuid.uuid4(), uuid.uuid4()
    await store.append(StreamAppend(f"key:{second}", 0, [revoked(second)]))
    with pytest.raises(ConcurrencyError):
        await store.append(
            StreamAppend(f"key:{first}", 0, [revoked(first)]),
            StreamAppend(f"key:{second}", 0, [revoked(second)]),
        )
    assert await store.read_stream(f"key:{first}") == []


async def test_events_read_back_in_global_order_equal_what_was_appended(
    pool: Pool,
) -> None:
    store = PostgresEventStore(pool)
    events = [revoked(uuid.uuid4(), f"r{i}") for i in range(20)]
    await asyncio.gather(*(store.append(StreamAppend(f"key:{e.key_id}", 0, [e])) for e in events))
    stored = await store.read_after(0, 100)
    assert [s.position for s in stored] == sorted(s.position for s in stored)
    assert {s.event for s in stored} == set(events)
