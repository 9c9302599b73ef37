"""A gateway killed with SIGKILL mid-stream still meters the requests it was forwarding: their
write-ahead intents are metered at their estimate (marked estimated) after the restart."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest
from nats.js import JetStreamContext

from contracts.codec import encode
from contracts.events import RequestMetered
from infra.embedded import EmbeddedNats
from services.gateway.adapters.journal import Journal, intent_line, recover
from services.gateway.adapters.spool import Spool
from tests.fakes.events import request_metered
from tests.fakes.upstream import FakeUpstream
from tests.gateway.conftest import MODELS_TOML, UPSTREAM_SECRET, issue_key, metered
from tests.gateway.test_crash import gateway_process, served_ids, wait_ready

STREAMS = 3


async def open_stream(client: httpx.AsyncClient, url: str, key: str, held: list[object]) -> str:
    """Start a streamed chat, read its first chunk, leave it open (in ``held``: a dropped
    iterator would close it, which the gateway bills as a client leaving); its request id."""
    request = client.build_request(
        "POST",
        f"{url}/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={
            "model": "fake",
            "stream": True,
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "write a long story"}],
        },
    )
    response = await client.send(request, stream=True)
    assert response.status_code == 200
    chunks = response.aiter_bytes()
    await chunks.__anext__()
    held += [response, chunks]
    return response.headers["x-request-id"]


async def usage_counts(js: JetStreamContext, ids: set[str]) -> Counter[str]:
    async with asyncio.timeout(20):
        while True:
            counts = Counter(str(e.request_id) for e in await metered(js))
            if ids <= set(counts):
                return counts
            await asyncio.sleep(0.1)


async def test_requests_in_flight_when_the_gateway_is_killed_are_metered_once_estimated(
    tmp_path: Path,
    nats_server: EmbeddedNats,
    js: JetStreamContext,
    fake_upstream: tuple[FakeUpstream, str],
) -> None:
    fake, upstream_url = fake_upstream
    fake.chunk_delay_seconds = 0.2  # 50 chunks: ten seconds a stream
    models = tmp_path / "models.toml"
    models.write_text(MODELS_TOML.format(url=upstream_url))
    env = {"AISCHOOL_MODELS_FILE": str(models), "AISCHOOL_TEST_UPSTREAM_KEY": UPSTREAM_SECRET}
    key, _ = await issue_key(js)
    spool, log = tmp_path / "spool", tmp_path / "gateway.log"

    with gateway_process(nats_server.url, spool, log, **env) as (url, process):
        await wait_ready(url, process)
        finished = await served_ids(url, key, 2, model="fake")
        await usage_counts(js, set(finished))
        async with httpx.AsyncClient(timeout=30) as client:
            held: list[object] = []
            in_flight = [await open_stream(client, url, key, held) for _ in range(STREAMS)]
            process.kill()
            process.wait()
    with gateway_process(nats_server.url, spool, log, **env) as (url, process):
        await wait_ready(url, process)
        counts = await usage_counts(js, set(finished + in_flight))

    assert {i: counts[i] for i in finished + in_flight} == dict.fromkeys(finished + in_flight, 1)
    events = {str(e.request_id): e for e in await metered(js)}
    assert not any(events[i].estimated for i in finished)
    for request_id in in_flight:
        event = events[request_id]
        assert event.estimated and event.stream
        # The reservation: the prompt's estimate and all 50 tokens of output it allowed.
        assert event.completion_tokens == 50 and event.cost_micro_usd >= 50 * 100


def test_an_intent_whose_outcome_was_delivered_is_not_metered_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("services.gateway.adapters.journal.ROTATE_LINES", 2)
    served, open_one = request_metered(), request_metered()
    journal = Journal(tmp_path)
    intents = [
        journal.write(intent_line(encode(e.model_copy(update={"estimated": True}))))
        for e in (served, open_one)
    ]
    outcome = journal.write(encode(served))  # a newer segment than its intent
    journal.resolve(intents[0])  # the outcome is journaled ...
    journal.resolve(outcome)  # ... and acked, while the other request is still open
    # Killed here: the next start spools the outcome again (a duplicate JetStream drops) and
    # meters the open request at its estimate, but not the served one twice.
    spool = Spool(tmp_path / "spool")
    recover(tmp_path, spool)
    recovered = [RequestMetered.model_validate_json(line) for line in spool.read_all()]
    assert [(e.request_id, e.estimated) for e in recovered] == [
        (served.request_id, False),
        (open_one.request_id, True),
    ]
