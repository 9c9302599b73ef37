"""Anthropic's Messages API (Claude Code) through the gateway, with the official anthropic SDK.

Recorded SDK behaviour (anthropic 2.x): a 402 ``billing_error`` with ``x-should-retry:
false`` raises at once, after one request; a 429 ``rate_limit_error`` is retried (twice by
default, after ``Retry-After`` when it is at most 60 s), so the test turns retries off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from nats.js import JetStreamContext

from services.gateway.adapters.demo import INTRO
from services.gateway.domain.tokens import estimate_tokens
from tests.fakes.upstream import FakeUpstream
from tests.gateway.conftest import (
    UPSTREAM_SECRET,
    Gateway,
    issue_key,
    metered,
    start_gateway,
)
from tests.gateway.test_openai_sdk import wait_for_usage

MODELS = """
[models.claude]
kind = "anthropic"
base_url = "{url}"
upstream_model = "claude-fake"
api_key_env = "AISCHOOL_TEST_UPSTREAM_KEY"
input_usd_per_million = 10
cached_input_usd_per_million = 1
cache_write_usd_per_million = 20
output_usd_per_million = 100
max_output_tokens = 50

[models.fake]
base_url = "{url}"
input_usd_per_million = 10
output_usd_per_million = 100
"""
SAY_OK: list[Any] = [{"role": "user", "content": "say ok three times"}]


@pytest.fixture
def claude_gateway(
    tmp_path: Path,
    make_settings: Any,
    js: JetStreamContext,
    gateways: list[Gateway],
    fake_upstream: tuple[FakeUpstream, str],
) -> Gateway:
    models = tmp_path / "anthropic-models.toml"
    models.write_text(MODELS.format(url=fake_upstream[1]))
    gateway = start_gateway(make_settings(models_file=models, student_requests_per_minute=3))
    gateways.append(gateway)
    return gateway


def refusals(gateway: Gateway, code: str) -> float:
    """How many /v1/messages requests the gateway refused with ``code``."""
    scraped = httpx.get(f"{gateway.url}/metrics").text
    prefix = f'gateway_errors_total{{code="{code}",endpoint="/v1/messages"}} '
    lines = [line for line in scraped.splitlines() if line.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else 0.0


def claude(gateway: Gateway, key: str, **options: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key=key, base_url=gateway.url, **options)


async def test_message_is_answered_and_metered_as_the_upstream_reported(
    claude_gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    key, issued = await issue_key(js)
    async with claude(claude_gateway, key) as client:
        answer = await client.messages.create(model="claude", max_tokens=3, messages=SAY_OK)
    assert answer.content[0].type == "text" and answer.content[0].text == "ok ok ok"
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (4, 3)
    [event] = await wait_for_usage(js, 1)
    assert (event.key_id, event.model, event.stream, event.estimated) == (
        issued.key_id,
        "claude",
        False,
        False,
    )
    assert (event.prompt_tokens, event.completion_tokens, event.cost_micro_usd) == (4, 3, 340)
    sent, headers = fake_upstream[0].requests[0], fake_upstream[0].headers[0]
    assert (sent["model"], sent["max_tokens"]) == ("claude-fake", 3)
    assert headers["x-api-key"] == UPSTREAM_SECRET and "authorization" not in headers
    assert headers["anthropic-version"] == client.default_headers["anthropic-version"]


async def test_cache_reads_and_writes_are_priced_as_the_models_file_says(
    claude_gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    fake_upstream[0].cached_tokens, fake_upstream[0].cache_write_tokens = 3, 2
    key, _ = await issue_key(js)
    async with claude(claude_gateway, key) as client:
        await client.messages.create(
            model="claude", max_tokens=1, messages=[{"role": "user", "content": "a b"}]
        )
    [event] = await wait_for_usage(js, 1)
    assert (event.prompt_tokens, event.cached_tokens, event.completion_tokens) == (7, 3, 1)
    assert event.cost_micro_usd == 2 * 10 + 3 * 1 + 2 * 20 + 1 * 100


async def test_streamed_message_is_relayed_and_metered_from_its_events(
    claude_gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    fake_upstream[0].cached_tokens = 2
    key, _ = await issue_key(js)
    async with (
        claude(claude_gateway, key) as client,
        client.messages.stream(
            model="claude", max_tokens=4, system="be brief", messages=SAY_OK
        ) as stream,
    ):
        text = await stream.get_final_text()
        final = await stream.get_final_message()
    assert text == "ok ok ok ok" and final.usage.output_tokens == 4
    [event] = await wait_for_usage(js, 1)
    assert (event.prompt_tokens, event.cached_tokens, event.completion_tokens) == (8, 2, 4)
    assert event.stream and not event.estimated
    assert event.cost_micro_usd == 6 * 10 + 2 * 1 + 4 * 100


async def test_stream_without_final_usage_bills_the_prompt_and_our_count(
    claude_gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    fake_upstream[0].send_usage = False
    key, _ = await issue_key(js)
    async with claude(claude_gateway, key) as client:
        stream = await client.messages.create(
            model="claude", max_tokens=6, messages=SAY_OK, stream=True
        )
        assert len([event async for event in stream]) == 11  # the SDK drops the ping
    [event] = await wait_for_usage(js, 1)
    assert event.estimated and event.prompt_tokens == 4 and event.completion_tokens >= 6


async def test_spent_budget_is_a_billing_error_the_sdk_does_not_retry(
    claude_gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    key, _ = await issue_key(js, budget_micro_usd=100)
    async with claude(claude_gateway, key) as client:
        with pytest.raises(anthropic.APIStatusError) as caught:
            await client.messages.create(model="claude", max_tokens=100, messages=SAY_OK)
    assert caught.value.status_code == 402
    assert refusals(claude_gateway, "insufficient_quota") == 1  # one request: no retry
    assert caught.value.response.json()["type"] == "error"
    assert caught.value.response.json()["error"]["type"] == "billing_error"
    assert "budget" in caught.value.message
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert fake_upstream[0].requests == []


async def test_rate_limit_is_a_rate_limit_error_with_retry_after(
    claude_gateway: Gateway, js: JetStreamContext
) -> None:
    key, _ = await issue_key(js)
    async with claude(claude_gateway, key, max_retries=0) as client:
        for _ in range(3):
            await client.messages.create(model="claude", max_tokens=1, messages=SAY_OK)
        with pytest.raises(anthropic.RateLimitError) as caught:
            await client.messages.create(model="claude", max_tokens=1, messages=SAY_OK)
    assert int(caught.value.response.headers["retry-after"]) >= 1
    assert caught.value.response.json()["error"]["type"] == "rate_limit_error"


async def test_unknown_key_and_wrong_api_are_refused_in_the_right_envelope(
    claude_gateway: Gateway, js: JetStreamContext
) -> None:
    key, _ = await issue_key(js)
    async with claude(claude_gateway, "sk-ais-nope", max_retries=0) as client:
        with pytest.raises(anthropic.AuthenticationError) as refused:
            await client.messages.create(model="claude", max_tokens=1, messages=SAY_OK)
    assert refused.value.response.json()["error"]["type"] == "authentication_error"
    async with claude(claude_gateway, key) as client:
        with pytest.raises(anthropic.NotFoundError) as wrong:
            await client.messages.create(model="fake", max_tokens=1, messages=SAY_OK)
        with pytest.raises(anthropic.BadRequestError) as bad:
            await client.messages.create(
                model="claude",
                max_tokens=1,
                messages=[{"role": "robot", "content": "x"}],  # type: ignore[list-item,misc]
            )
    assert "Messages API" in wrong.value.message
    assert "messages[0].role" in bad.value.message
    with pytest.raises(openai.NotFoundError):
        await claude_gateway.client(key).chat.completions.create(model="claude", messages=SAY_OK)
    assert await metered(js) == []


async def test_count_tokens_is_answered_and_not_metered(
    claude_gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    key, _ = await issue_key(js)
    async with claude(claude_gateway, key) as client:
        counted = await client.messages.count_tokens(model="claude", messages=SAY_OK)
        await client.messages.create(model="claude", max_tokens=1, messages=SAY_OK)
    assert counted.input_tokens == 4
    assert fake_upstream[0].requests[0]["model"] == "claude-fake"
    assert len(await wait_for_usage(js, 1)) == 1


async def test_demo_model_answers_the_messages_api(
    make_settings: Any, js: JetStreamContext, gateways: list[Gateway]
) -> None:
    gateway = start_gateway(make_settings(models_file=None))
    gateways.append(gateway)
    key, _ = await issue_key(js)
    async with claude(gateway, key) as client:
        answer = await client.messages.create(
            model="demo", max_tokens=200, messages=[{"role": "user", "content": "Write hi"}]
        )
        async with client.messages.stream(
            model="demo", max_tokens=200, messages=[{"role": "user", "content": "again"}]
        ) as stream:
            text = await stream.get_final_text()
        counted = await client.messages.count_tokens(model="demo", messages=SAY_OK)
    assert answer.content[0].type == "text" and answer.content[0].text == INTRO + "Write hi"
    assert answer.usage.output_tokens == estimate_tokens(INTRO + "Write hi")
    assert text == INTRO + "again" and counted.input_tokens > 0
    events = await wait_for_usage(js, 2)
    assert [e.estimated for e in events] == [False, False]
    assert [e.completion_tokens for e in events] == [
        answer.usage.output_tokens,
        estimate_tokens(text),
    ]
