"""The official openai SDK against a running gateway: every endpoint, streaming and not."""

from __future__ import annotations

import asyncio
import uuid

import openai
import pytest
from nats.js import JetStreamContext

from contracts.events import ChatCreated, KeyRevoked, RequestMetered
from contracts.streams import USAGE
from tests.fakes.upstream import FakeUpstream
from tests.gateway.conftest import (
    ISSUED_KEYS,
    UPSTREAM_SECRET,
    Gateway,
    issue_key,
    metered,
    now,
    publish,
    usage_events,
)


async def wait_for_usage(js: JetStreamContext, count: int) -> list[RequestMetered]:
    for _ in range(200):
        events = await metered(js)
        if len(events) >= count:
            return events
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} RequestMetered, have {len(await metered(js))}")


async def test_chat_completion_is_answered_billed_and_metered(
    gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    key, issued = await issue_key(js)
    client = gateway.client(key)
    answer = await client.chat.completions.create(
        model="fake", messages=[{"role": "user", "content": "say ok three times"}], max_tokens=3
    )
    assert answer.choices[0].message.content == "ok ok ok"
    assert answer.usage is not None and answer.usage.completion_tokens == 3
    [event] = await wait_for_usage(js, 1)
    assert (event.key_id, event.model, event.stream) == (issued.key_id, "fake", False)
    assert (event.prompt_tokens, event.completion_tokens, event.estimated) == (4, 3, False)
    assert event.cost_micro_usd == 4 * 10 + 3 * 100
    sent = fake_upstream[0]
    assert sent.requests[0]["model"] == "fake-model"
    assert sent.headers[0]["authorization"] == f"Bearer {UPSTREAM_SECRET}"


async def test_streamed_chat_without_usage_request_hides_the_usage_chunk(
    gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    key, _ = await issue_key(js)
    stream = await gateway.client(key).chat.completions.create(
        model="fake", messages=[{"role": "user", "content": "hi"}], max_tokens=4, stream=True
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "ok ok ok ok"
    assert all(chunk.usage is None for chunk in chunks)
    assert fake_upstream[0].requests[0]["stream_options"] == {"include_usage": True}
    [event] = await wait_for_usage(js, 1)
    assert (event.prompt_tokens, event.completion_tokens, event.stream) == (1, 4, True)
    assert not event.estimated


async def test_streamed_chat_with_usage_request_passes_the_usage_chunk(
    gateway: Gateway, js: JetStreamContext
) -> None:
    key, _ = await issue_key(js)
    stream = await gateway.client(key).chat.completions.create(
        model="fake",
        messages=[{"role": "user", "content": "hi there"}],
        max_tokens=2,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    usage = chunks[-1].usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (2, 2)


async def test_stream_without_upstream_usage_is_billed_as_estimated(
    gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    fake_upstream[0].send_usage = False
    key, _ = await issue_key(js)
    stream = await gateway.client(key).chat.completions.create(
        model="fake", messages=[{"role": "user", "content": "hi"}], max_tokens=6, stream=True
    )
    assert len([chunk async for chunk in stream]) >= 6
    [event] = await wait_for_usage(js, 1)
    assert event.estimated and event.completion_tokens >= 6 and event.cost_micro_usd > 0


async def test_completion_embeddings_and_models(gateway: Gateway, js: JetStreamContext) -> None:
    key, _ = await issue_key(js, allowed_models=("fake",))
    client = gateway.client(key)
    completion = await client.completions.create(model="fake", prompt="one two", max_tokens=2)
    assert completion.choices[0].text == "ok ok"
    embedding = await client.embeddings.create(model="fake", input=["a b", "c"])
    assert len(embedding.data) == 2 and embedding.usage.prompt_tokens == 3
    models = await client.models.list()
    assert [m.id for m in models.data] == ["fake"]
    events = await wait_for_usage(js, 2)
    assert sorted(e.prompt_tokens for e in events) == [2, 3]


async def test_model_outside_the_allow_list_is_not_found(
    gateway: Gateway, js: JetStreamContext
) -> None:
    key, _ = await issue_key(js, allowed_models=("fake",))
    with pytest.raises(openai.NotFoundError) as caught:
        await gateway.client(key).chat.completions.create(
            model="other", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.code == "model_not_found"


async def test_revoked_key_is_rejected_within_one_second(
    gateway: Gateway, js: JetStreamContext
) -> None:
    key, issued = await issue_key(js)
    client = gateway.client(key, max_retries=0)
    await client.models.list()
    await publish(
        js,
        KeyRevoked(
            event_id=uuid.uuid4(),
            occurred_at=now(),
            key_id=issued.key_id,
            revoked_by="admin-1",
            reason="lost",
        ),
    )
    deadline = asyncio.get_running_loop().time() + 1.0
    while True:
        try:
            await client.models.list()
        except openai.AuthenticationError as exc:
            assert "revoked" in exc.message
            break
        assert asyncio.get_running_loop().time() < deadline, "still accepted after 1 s"
        await asyncio.sleep(0.01)


async def test_chat_with_session_id_is_created_once_and_tagged(
    gateway: Gateway, js: JetStreamContext
) -> None:
    key, issued = await issue_key(js)
    client = gateway.client(key, default_headers={"x-session-id": "ses_1"})
    for question in ("write hello world", "now in rust"):
        await client.chat.completions.create(
            model="fake", messages=[{"role": "user", "content": question}]
        )
    await wait_for_usage(js, 2)
    events = await usage_events(js)
    chats = [e for e in events if isinstance(e, ChatCreated)]
    requests = [e for e in events if isinstance(e, RequestMetered)]
    assert len(chats) == 1 and chats[0].key_id == issued.key_id
    assert {r.chat_id for r in requests} == {chats[0].chat_id}


async def test_plaintext_key_is_not_in_usage(gateway: Gateway, js: JetStreamContext) -> None:
    key, _ = await issue_key(js)
    client = gateway.client(key, default_headers={"x-session-id": "ses_2"})
    await client.chat.completions.create(
        model="fake", messages=[{"role": "user", "content": f"my key is {key[:12]}"}]
    )
    await wait_for_usage(js, 1)
    info = await js.stream_info(USAGE.name)
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        data = (await js.get_msg(USAGE.name, seq)).data or b""
        assert all(issued.encode() not in data for issued in ISSUED_KEYS)
