"""The Responses API (Codex CLI) through the gateway, with the official openai SDK."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from nats.js import JetStreamContext

from contracts.events import ChatCreated
from services.gateway.adapters.demo import INTRO
from services.gateway.domain.tokens import estimate_tokens
from tests.fakes.upstream import FakeUpstream
from tests.gateway.conftest import (
    UPSTREAM_SECRET,
    Gateway,
    issue_key,
    metered,
    start_gateway,
    usage_events,
)
from tests.gateway.test_openai_sdk import wait_for_usage


async def test_response_is_answered_and_metered_as_the_upstream_reported(
    gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    key, issued = await issue_key(js)
    answer = await gateway.client(key).responses.create(
        model="fake", input="say ok three times", max_output_tokens=3
    )
    assert answer.output_text == "ok ok ok"
    assert answer.usage is not None
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (4, 3)
    [event] = await wait_for_usage(js, 1)
    assert (event.key_id, event.model, event.stream, event.estimated) == (
        issued.key_id,
        "fake",
        False,
        False,
    )
    assert (event.prompt_tokens, event.completion_tokens) == (4, 3)
    assert event.cost_micro_usd == 4 * 10 + 3 * 100
    sent, headers = fake_upstream[0].requests[0], fake_upstream[0].headers[0]
    assert (sent["model"], sent["max_output_tokens"]) == ("fake-model", 3)
    assert "max_tokens" not in sent and "stream_options" not in sent
    assert headers["authorization"] == f"Bearer {UPSTREAM_SECRET}"


async def test_streamed_response_keeps_its_usage_and_is_metered_once(
    gateway: Gateway, js: JetStreamContext
) -> None:
    key, _ = await issue_key(js)
    stream = await gateway.client(key).responses.create(
        model="fake",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "hi there"}]}],
        instructions="be brief",
        max_output_tokens=4,
        stream=True,
    )
    events = [event async for event in stream]
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "ok ok ok ok"
    assert events[-1].type == "response.completed"
    usage = events[-1].response.usage
    assert usage is not None and (usage.input_tokens, usage.output_tokens) == (4, 4)
    [event] = await wait_for_usage(js, 1)
    assert (event.prompt_tokens, event.completion_tokens, event.stream) == (4, 4, True)
    assert not event.estimated and event.cost_micro_usd == 4 * 10 + 4 * 100


async def test_cached_input_is_priced_at_the_cached_price(
    gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    fake_upstream[0].cached_tokens = 2
    key, _ = await issue_key(js)
    await gateway.client(key).responses.create(model="fake", input="a b c d", max_output_tokens=1)
    [event] = await wait_for_usage(js, 1)
    assert (event.prompt_tokens, event.cached_tokens, event.completion_tokens) == (4, 2, 1)
    assert event.cost_micro_usd == 2 * 10 + 2 * 1 + 1 * 100


async def test_stream_without_usage_is_billed_by_our_count(
    gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    fake_upstream[0].send_usage = False
    key, _ = await issue_key(js)
    stream = await gateway.client(key).responses.create(
        model="fake", input="hi", max_output_tokens=6, stream=True
    )
    assert len([event async for event in stream]) == 8
    [event] = await wait_for_usage(js, 1)
    assert event.estimated and event.completion_tokens >= 6 and event.cost_micro_usd > 0


async def test_spent_budget_is_a_402_the_sdk_does_not_retry(
    gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    key, _ = await issue_key(js, budget_micro_usd=100)
    with pytest.raises(openai.APIStatusError) as caught:
        await gateway.client(key).responses.create(model="fake", input="hello")
    assert caught.value.status_code == 402
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert caught.value.code == "insufficient_quota"
    assert fake_upstream[0].requests == []


async def test_output_cap_is_lowered_to_what_the_budget_left_pays_for(
    make_settings: Any,
    js: JetStreamContext,
    gateways: list[Gateway],
    fake_upstream: tuple[FakeUpstream, str],
) -> None:
    gateway = start_gateway(make_settings(min_answer_tokens=1))
    gateways.append(gateway)
    budget = 3_000  # the ~40-token prompt estimate (400) leaves about 26 output tokens
    key, _ = await issue_key(js, budget_micro_usd=budget)
    await gateway.client(key).responses.create(model="fake", input="hi")
    sent = fake_upstream[0].requests[0]["max_output_tokens"]
    assert 0 < sent < 50
    [event] = await wait_for_usage(js, 1)
    assert event.completion_tokens == sent and event.cost_micro_usd <= budget


async def test_bad_input_is_a_400_naming_the_field_and_not_metered(
    gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    key, _ = await issue_key(js)
    bodies = [
        {"model": "fake"},
        {"model": "fake", "input": "hi", "max_output_tokens": "many"},
        {"model": "fake", "input": "hi", "stream": "yes"},
        {"model": "fake", "input": [{"role": "user", "content": "a\u0000b"}]},
    ]
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        for body in bodies:
            answer = await http.post(
                "/v1/responses", json=body, headers={"Authorization": f"Bearer {key}"}
            )
            assert answer.status_code == 400, body
            assert answer.json()["error"]["code"] == "invalid_request"
    assert fake_upstream[0].requests == [] and await metered(js) == []


async def test_responses_with_a_session_are_one_chat(
    gateway: Gateway, js: JetStreamContext
) -> None:
    key, issued = await issue_key(js)
    client = gateway.client(key, default_headers={"x-session-id": "codex-1"})
    for question in ("write hello world", "now in rust"):
        await client.responses.create(model="fake", input=question)
    await wait_for_usage(js, 2)
    chats = [e for e in await usage_events(js) if isinstance(e, ChatCreated)]
    assert len(chats) == 1 and chats[0].key_id == issued.key_id
    assert chats[0].title.startswith("write hello world")


async def test_demo_model_answers_the_responses_api(
    make_settings: Any, js: JetStreamContext, gateways: list[Gateway]
) -> None:
    gateway = start_gateway(make_settings(models_file=None))
    gateways.append(gateway)
    key, _ = await issue_key(js)
    client = gateway.client(key)
    answer = await client.responses.create(model="demo", input="Write hello world")
    assert answer.output_text == INTRO + "Write hello world"
    assert answer.usage is not None
    assert answer.usage.output_tokens == estimate_tokens(answer.output_text)
    stream = await client.responses.create(model="demo", input="again", stream=True)
    events = [event async for event in stream]
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == INTRO + "again" and events[-1].type == "response.completed"
    metered_events = await wait_for_usage(js, 2)
    assert [e.estimated for e in metered_events] == [False, False]
    assert metered_events[0].completion_tokens == answer.usage.output_tokens
    assert metered_events[1].completion_tokens == estimate_tokens(text)
