"""Metering's batch publisher against a real JetStream: acked per event, or reported failed."""

from __future__ import annotations

from nats.aio.client import Client
from nats.js import JetStreamContext

from contracts.codec import encode, headers, subject
from services.gateway.adapters.publisher import BatchPublisher
from tests.fakes.events import request_metered
from tests.gateway.conftest import metered


async def test_a_batch_is_acked_per_event_and_stored_once_however_often_it_is_sent(
    nats_client: Client, js: JetStreamContext
) -> None:
    events = [request_metered() for _ in range(3)]
    batch = [(subject(e), encode(e), headers(e)) for e in events]
    publisher = BatchPublisher(nats_client, timeout=5)
    assert await publisher.publish(batch) == [True, True, True]
    assert await publisher.publish(batch[:1]) == [True]  # a re-send (spool): acked, dropped
    stored = [e.request_id for e in await metered(js)]
    assert sorted(stored) == sorted(e.request_id for e in events)


async def test_an_event_no_stream_takes_is_reported_not_published(
    nats_client: Client, js: JetStreamContext
) -> None:
    event = request_metered()
    publisher = BatchPublisher(nats_client, timeout=1)
    results = await publisher.publish(
        [("nowhere.usage", encode(event), headers(event)), (subject(event), encode(event), {})]
    )
    assert results == [False, True]
