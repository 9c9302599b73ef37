"""The batched catch-up against a real nats-server: each message once and in order, handed over
to the live consumer at the next sequence, and an ordinary consumer carrying on from the last
message applied when the batched read stops early."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo, DeliverPolicy
from structlog.testing import capture_logs

import infra.replay
from contracts.codec import decode, encode, headers, subject
from contracts.events import EventBase, KeyRevoked
from contracts.streams import KEYS
from infra.follow import Follower
from infra.messaging import connect, ensure_streams
from infra.replay import replay
from tests.keys.test_store_contract import revoked
from tests.positions import reach

# Small batches, so that a few dozen messages take several pull requests.
BATCH = 7


@pytest.fixture
async def nc(nats_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Client]:
    monkeypatch.setattr(infra.replay, "BATCH", BATCH)
    client = await connect(nats_url, "replay-test")
    await ensure_streams(client.jetstream())
    yield client
    await client.close()


async def publish(js: JetStreamContext, count: int) -> list[uuid.UUID]:
    """Publish ``count`` KeyRevoked events to KEYS; their key ids, in order."""
    keys = []
    for _ in range(count):
        event = revoked(uuid.uuid4())
        await js.publish(subject(event), encode(event), headers=headers(event))
        keys.append(event.key_id)
    return keys


def key_of(event: EventBase) -> uuid.UUID:
    assert isinstance(event, KeyRevoked)
    return event.key_id


async def consumers(js: JetStreamContext) -> list[str]:
    return [info.name for info in await js.consumers_info(KEYS.name)]


async def live_consumer(js: JetStreamContext, not_named: str = "") -> ConsumerInfo:
    """The one consumer on KEYS once it is the follower's live (push) one, the batched
    read's (pull) one gone."""
    for _ in range(500):
        found = await js.consumers_info(KEYS.name)
        if len(found) == 1 and found[0].config.deliver_subject and found[0].name != not_named:
            return found[0]
        await asyncio.sleep(0.01)
    raise AssertionError(f"KEYS has the consumers {await consumers(js)}")


@pytest.mark.parametrize(
    ("first", "target", "last"),
    [(1, 30, 30), (12, 30, 30), (1, 10_000, 40)],
    ids=["up-to-the-target", "from-a-later-sequence", "to-the-end-when-the-target-is-beyond"],
)
async def test_replay_hands_over_each_message_once_in_order_and_removes_its_consumer(
    nc: Client, first: int, target: int, last: int
) -> None:
    js = nc.jetstream()
    keys = await publish(js, 40)
    seen: list[tuple[int, uuid.UUID]] = []

    def collect(sequence: int, data: bytes) -> None:
        seen.append((sequence, key_of(decode(data))))

    got = await replay(
        nc, KEYS.name, f"{KEYS.subject_prefix}.>", collect, first=first, target=target
    )

    assert got == last
    assert seen == [(seq, keys[seq - 1]) for seq in range(first, last + 1)]
    assert await consumers(js) == []


async def test_follower_reads_the_history_in_batches_then_follows_live_each_event_once(
    nc: Client,
) -> None:
    js = nc.jetstream()
    history = await publish(js, 40)
    applied: list[uuid.UUID] = []
    with capture_logs() as logs:
        follower = await Follower(js, KEYS, lambda e: applied.append(key_of(e)), batched=nc).start()
        during = await publish(js, 10)  # while it catches up, or just after
        await asyncio.wait_for(follower.caught_up.wait(), 10)
        await live_consumer(js)
        live = await publish(js, 5)
        await reach(lambda: follower.last_sequence, 55, what="the follower")
        await follower.stop()

    assert applied == history + during + live
    assert [log for log in logs if log["event"] == "batched_replay_stopped"] == []


async def test_a_reset_live_consumer_resumes_after_the_history_not_from_its_start(
    nc: Client,
) -> None:
    js = nc.jetstream()
    history = await publish(js, 40)
    applied: list[uuid.UUID] = []
    follower = await Follower(js, KEYS, lambda e: applied.append(key_of(e)), batched=nc).start()
    await asyncio.wait_for(follower.caught_up.wait(), 10)
    gone = (await live_consumer(js)).name

    # The live consumer vanishes before it delivered anything (as when its NATS node dies):
    # the client re-creates it after two missed heartbeats, from the message after the last
    # one it knows of, which must be the last one the batched read applied.
    await js.delete_consumer(KEYS.name, gone)
    info = await live_consumer(js, not_named=gone)
    assert info.config.deliver_policy == DeliverPolicy.BY_START_SEQUENCE
    assert info.config.opt_start_seq == 41
    live = await publish(js, 5)
    await reach(lambda: follower.last_sequence, 45, what="the follower")
    await follower.stop()

    assert applied == history + live


async def test_an_ordinary_consumer_carries_on_where_a_failed_batched_read_stopped(
    nc: Client,
) -> None:
    js = nc.jetstream()
    history = await publish(js, 300)
    applied: list[uuid.UUID] = []
    deleting: list[asyncio.Task[None]] = []

    async def delete_the_batched_reads_consumer() -> None:
        for name in await consumers(js):
            await js.delete_consumer(KEYS.name, name)

    def apply(event: EventBase) -> None:
        applied.append(key_of(event))
        if len(applied) == 3:  # mid-read, the server drops the consumer: it answers a status
            deleting.append(asyncio.create_task(delete_the_batched_reads_consumer()))

    with capture_logs() as logs:
        follower = await Follower(js, KEYS, apply, batched=nc).start()
        await asyncio.wait_for(follower.caught_up.wait(), 20)
        await follower.stop()

    stopped = [log for log in logs if log["event"] == "batched_replay_stopped"]
    assert len(stopped) == 1 and 3 <= stopped[0]["seq"] < 300
    assert applied == history
