"""Ingest: every metered request counted exactly once, however often it is delivered."""

from __future__ import annotations

import uuid

from nats.js import JetStreamContext

from contracts.streams import USAGE
from services.ledger.usecases.ingest import DURABLE
from tests.ledger.conftest import (
    ALICE,
    BOB,
    DAVE,
    DAY,
    NOW,
    Ledger,
    directory_events,
    publish,
    run_ledger,
    settings_for,
)


async def test_replaying_the_same_events_twice_leaves_every_total_unchanged(
    js: JetStreamContext, database_url: str, nats_url: str
) -> None:
    chat = uuid.uuid4()
    events = [
        ALICE.chat(chat, "Fix my loop"),
        *(ALICE.metered(1000 + n, chat_id=chat, at=NOW + n * DAY) for n in range(40)),
        *(DAVE.metered(7, model="other") for _ in range(30)),
    ]
    settings = settings_for(database_url, nats_url)
    await publish(js, directory_events())
    async with run_ledger(settings, js) as ledger:
        await publish(js, events)
        await ledger.wait_ingested(70)
        before = await ledger.snapshot()
        # The same events again, past JetStream's duplicate window (as a gateway re-sending
        # its spool after a long outage would): the stream now holds each one twice.
        await publish(js, events, fresh_ids=True)
        await ledger.consumer_settled()
        assert await ledger.snapshot() == before

    # And a full replay of the stream through a brand-new consumer.
    await js.delete_consumer(USAGE.name, DURABLE)
    async with run_ledger(settings, js) as ledger:
        await ledger.consumer_settled()
        assert await ledger.snapshot() == before
        assert await ledger.total("requests") == 70
        assert await ledger.total("cost_micro_usd") == sum(1000 + n for n in range(40)) + 7 * 30
        assert await ledger.total("chats") == 1


async def test_a_request_before_its_chat_and_duplicates_in_one_batch_count_once(
    ledger: Ledger, js: JetStreamContext
) -> None:
    chat = uuid.uuid4()
    first = BOB.metered(500, chat_id=chat)
    await publish(js, [first])
    await ledger.wait_ingested(1)
    await publish(js, [BOB.chat(chat, "Refactor"), BOB.metered(250, chat_id=chat)])
    await ledger.wait_ingested(2)
    await ledger.consumer_settled()

    chats = (await ledger.snapshot())["chats"]
    assert [(c["title"], c["requests"], c["cost_micro_usd"]) for c in chats] == [
        ("Refactor", 2, 750)
    ]
    assert await ledger.total("chats") == 1


async def test_requests_older_than_retention_are_not_counted_and_old_partitions_go(
    database_url: str, nats_url: str, js: JetStreamContext
) -> None:
    old = NOW.replace(year=2024)
    await publish(js, [ALICE.metered(99, at=old), ALICE.metered(1)])
    settings = settings_for(database_url, nats_url, retention_months=6)
    async with run_ledger(settings, js) as ledger:
        await ledger.wait_ingested(1)
        assert await ledger.total("cost_micro_usd") == 1
        async with ledger.pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = 'requests'::regclass ORDER BY 1"
            )
            names = [r["relname"] for r in await cursor.fetchall()]
    assert "requests_y2026m11" in names
    assert "requests_y2026m12" in names
    assert not [n for n in names if n.startswith("requests_y2024")]


async def test_an_unknown_usage_event_is_set_aside_and_ingest_goes_on(
    ledger: Ledger, js: JetStreamContext
) -> None:
    await js.publish("coding.usage.request_rated", b'{"type": "RequestRated"}')
    await publish(js, [BOB.metered(42)])

    await ledger.wait_ingested(1)
    await ledger.consumer_settled()  # the unknown one is terminated, not redelivered forever
    assert await ledger.total("cost_micro_usd") == 42
