"""The event store contract, run against both implementations: in memory and PostgreSQL.

Use-case and domain tests run on ``MemoryEventStore`` in milliseconds; these scenarios are
what lets them: whatever the real store does here, its twin does too.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from contracts.events import KeyRevoked
from infra.database import migrate, open_pool
from services.keys.adapters.memory import MemoryEventStore
from services.keys.adapters.store import PostgresEventStore
from services.keys.app import SQL_DIR
from services.keys.usecases.ports import ConcurrencyError, EventStore, SlotClaim, StreamAppend


@pytest.fixture(
    params=[pytest.param("memory"), pytest.param("postgres", marks=pytest.mark.servers)]
)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[EventStore]:
    """The same empty event store, once in memory and once on a fresh PostgreSQL database."""
    if request.param == "memory":
        yield MemoryEventStore()
        return
    database_url = request.getfixturevalue("database_url")
    await migrate(database_url, "keys", SQL_DIR)
    pool = await open_pool(database_url, "keys")
    yield PostgresEventStore(pool)
    await pool.close()


def revoked(key_id: uuid.UUID, reason: str = "test") -> KeyRevoked:
    return KeyRevoked(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        key_id=key_id,
        revoked_by="admin",
        reason=reason,
    )


async def test_appended_events_read_back_in_version_order_with_their_payload(
    store: EventStore,
) -> None:
    key = uuid.uuid4()
    events = [revoked(key, "a"), revoked(key, "b")]
    position = await store.append(StreamAppend(f"key:{key}", 0, events))
    stored = await store.read_stream(f"key:{key}")
    assert [(s.version, s.event) for s in stored] == [(1, events[0]), (2, events[1])]
    assert [json.loads(s.payload)["reason"] for s in stored] == ["a", "b"]
    assert stored[-1].position == position
    assert await store.has_event_of_type("KeyRevoked")
    assert not await store.has_event_of_type("KeyIssued")


async def test_two_concurrent_appends_at_the_same_version_one_wins(store: EventStore) -> None:
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


async def test_append_ahead_of_the_stream_is_rejected(store: EventStore) -> None:
    key = uuid.uuid4()
    with pytest.raises(ConcurrencyError, match="at version 0, not 3"):
        await store.append(StreamAppend(f"key:{key}", 3, [revoked(key)]))
    assert await store.read_stream(f"key:{key}") == []


async def test_a_failed_multi_stream_append_writes_nothing(store: EventStore) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    await store.append(StreamAppend(f"key:{second}", 0, [revoked(second)]))
    with pytest.raises(ConcurrencyError):
        await store.append(
            StreamAppend(f"key:{first}", 0, [revoked(first)]),
            StreamAppend(f"key:{second}", 0, [revoked(second)]),
        )
    assert await store.read_stream(f"key:{first}") == []
    assert len(await store.read_after(0, 100)) == 1


async def test_an_empty_append_checks_the_version_and_writes_nothing(store: EventStore) -> None:
    key, other = uuid.uuid4(), uuid.uuid4()
    await store.append(StreamAppend(f"admin:{key}", 0, [revoked(key)]))
    with pytest.raises(ConcurrencyError):
        await store.append(
            StreamAppend(f"admin:{key}", 0, []), StreamAppend(f"key:{other}", 0, [revoked(other)])
        )
    await store.append(
        StreamAppend(f"admin:{key}", 1, []), StreamAppend(f"key:{other}", 0, [revoked(other)])
    )
    assert [s.version for s in await store.read_stream(f"admin:{key}")] == [1]
    assert [s.version for s in await store.read_stream(f"key:{other}")] == [1]


async def test_the_same_event_twice_is_refused(store: EventStore) -> None:
    key = uuid.uuid4()
    event = revoked(key)
    await store.append(StreamAppend(f"key:{key}", 0, [event]))
    with pytest.raises(ConcurrencyError):
        await store.append(StreamAppend(f"key:{uuid.uuid4()}", 0, [event]))
    assert len(await store.read_after(0, 100)) == 1


async def test_events_read_back_in_global_order_equal_what_was_appended(
    store: EventStore,
) -> None:
    events = [revoked(uuid.uuid4(), f"r{i}") for i in range(20)]
    await asyncio.gather(*(store.append(StreamAppend(f"key:{e.key_id}", 0, [e])) for e in events))
    stored = await store.read_after(0, 100)
    positions = [s.position for s in stored]
    assert positions == sorted(set(positions))
    assert {s.event for s in stored} == set(events)
    assert [s.position for s in await store.read_after(positions[4], 3)] == positions[5:8]


async def test_a_users_key_slot_is_taken_once_and_moved_only_from_what_was_seen(
    store: EventStore,
) -> None:
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await store.append_claiming(
        [StreamAppend(f"key:{first}", 0, [revoked(first)])], [SlotClaim("u1", None, first)]
    )
    # A second writer that also saw no key for u1 loses, and writes none of its events.
    with pytest.raises(ConcurrencyError, match="u1"):
        await store.append_claiming(
            [StreamAppend(f"key:{second}", 0, [revoked(second)])], [SlotClaim("u1", None, second)]
        )
    with pytest.raises(ConcurrencyError, match="u1"):
        await store.append_claiming([], [SlotClaim("u1", second, third)])
    assert await store.read_stream(f"key:{second}") == []
    await store.append_claiming(
        [StreamAppend(f"key:{third}", 0, [revoked(third)])], [SlotClaim("u1", first, third)]
    )
    assert len(await store.read_stream(f"key:{third}")) == 1
