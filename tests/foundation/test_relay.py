"""The relay: committed events reach KEYS exactly once, in commit order, across a NATS restart."""

from __future__ import annotations

import asyncio
import uuid
from functools import partial

from nats.js import JetStreamContext

from contracts.codec import MSG_ID
from contracts.streams import KEYS
from infra.database import Pool
from infra.embedded import EmbeddedNats
from infra.messaging import connect, ensure_streams
from services.keys.adapters.relay import Relay
from services.keys.adapters.store import PostgresEventStore
from services.keys.usecases.ports import StreamAppend
from tests.keys.test_store_contract import revoked
from tests.positions import reach, stream_head


async def stream_msg_ids(js: JetStreamContext) -> list[str]:
    info = await js.stream_info(KEYS.name)
    ids = []
    for seq in range(1, info.state.last_seq + 1):
        msg = await js.get_msg(KEYS.name, seq)
        ids.append((msg.headers or {})[MSG_ID])
    return ids


async def committed_ids(store: PostgresEventStore) -> list[str]:
    return [str(s.event.event_id) for s in await store.read_after(0, 10_000)]


async def wait_until_published(
    relay: Relay, store: PostgresEventStore, timeout: float = 30
) -> None:
    last = (await store.read_after(0, 10_000))[-1].position
    await reach(lambda: relay.position, last, what="the relay", timeout=timeout)


async def append_many(store: PostgresEventStore, count: int) -> None:
    async def one() -> None:
        key = uuid.uuid4()
        await store.append(StreamAppend(f"key:{key}", 0, [revoked(key)]))

    await asyncio.gather(*(one() for _ in range(count)))


async def test_relay_publishes_every_event_once_in_commit_order_across_a_nats_restart(
    pool: Pool, database_url: str, nats_server: EmbeddedNats
) -> None:
    nc = await connect(nats_server.url, "relay-test")
    js = nc.jetstream()
    await ensure_streams(js)
    store = PostgresEventStore(pool)
    relay = Relay(pool, js, database_url, batch_size=7)
    task = asyncio.create_task(relay.run())
    try:
        await append_many(store, 30)
        await asyncio.sleep(0.05)
        nats_server.stop()
        await append_many(store, 30)  # committed while NATS is down
        await asyncio.sleep(1.0)
        nats_server.start()
        await append_many(store, 30)
        await wait_until_published(relay, store)

        assert await stream_msg_ids(js) == await committed_ids(store)
    finally:
        task.cancel()
        await nc.close()


async def test_a_restarted_relay_resumes_from_its_checkpoint_without_duplicates(
    pool: Pool, database_url: str, nats_client: object
) -> None:
    js = nats_client.jetstream()  # type: ignore[attr-defined]
    store = PostgresEventStore(pool)
    await append_many(store, 10)
    first = Relay(pool, js, database_url)
    await first.publish_pending()
    async with pool.connection() as conn:  # simulate a crash after publishing, before saving
        await conn.execute("UPDATE relay_checkpoints SET position = position - 4")
    await append_many(store, 5)

    second = Relay(pool, js, database_url)
    await second.publish_pending()

    assert await stream_msg_ids(js) == await committed_ids(store)


async def test_with_two_relays_one_publishes_and_both_report_caught_up(
    pool: Pool, database_url: str, nats_client: object
) -> None:
    js = nats_client.jetstream()  # type: ignore[attr-defined]
    store = PostgresEventStore(pool)
    relays = [Relay(pool, js, database_url) for _ in range(2)]
    tasks = [asyncio.create_task(relay.run()) for relay in relays]
    try:
        await append_many(store, 20)
        async with asyncio.timeout(20):
            for relay in relays:
                await relay.caught_up.wait()
        await reach(partial(stream_head, js, KEYS), 20, what="the KEYS stream")
        assert [relay.leading for relay in relays].count(True) == 1
        assert await stream_msg_ids(js) == await committed_ids(store)
    finally:
        for relay in relays:
            relay.stop()
        await asyncio.gather(*tasks)
