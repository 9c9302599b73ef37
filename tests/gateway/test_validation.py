"""Bad request bodies are refused before admission: a 4xx in OpenAI's envelope, never
forwarded, never metered, and the client's connection still serves the next request."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext

from services.gateway.domain.chats import title
from tests.fakes.upstream import FakeUpstream
from tests.gateway.conftest import Gateway, issue_key, metered

USER = {"role": "user", "content": "hi"}
CHAT: dict[str, Any] = {"model": "fake", "messages": [USER], "max_tokens": 2}


def body(**changes: Any) -> dict[str, Any]:
    return {**CHAT, **changes}


BAD_BODIES = {
    "stream as a string": (body(stream="yes"), "'stream' must be true or false"),
    "stream as a number": (body(stream=1), "'stream' must be true or false"),
    "stream as 'true'": (body(stream="true"), "'stream' must be true or false"),
    "stream_options as a string": (body(stream=True, stream_options="x"), "'stream_options'"),
    "include_usage as a string": (
        body(stream=True, stream_options={"include_usage": "yes"}),
        "'stream_options.include_usage' must be true or false",
    ),
    "max_tokens as a string": (body(max_tokens="10"), "'max_tokens' must be a whole number"),
    "max_tokens negative": (body(max_tokens=-1), "'max_tokens' must be between 1"),
    "n zero": (body(n=0), "'n' must be between 1 and 128"),
    "n as a string": (body(n="2"), "'n' must be a whole number"),
    "temperature out of range": (body(temperature=3), "'temperature' must be between 0 and 2"),
    "no messages": (body(messages=[]), "'messages' must be a non-empty list"),
    "messages as a string": (body(messages="hi"), "'messages' must be a non-empty list"),
    "a message that is not an object": (body(messages=["hi"]), "'messages[0]' must be an object"),
    "an unknown role": (
        body(messages=[{"role": "robot", "content": "x"}]),
        "'messages[0].role' must be one of",
    ),
    "content as a number": (
        body(messages=[{"role": "user", "content": 5}]),
        "'messages[0].content' must be a string or a list",
    ),
    "an unknown content part": (
        body(messages=[{"role": "user", "content": [{"type": "video"}]}]),
        "'messages[0].content[0]' must be a content part",
    ),
    "a NUL character": (
        body(messages=[{"role": "user", "content": "fix\u0000this"}]),
        "'messages[0].content' contains a NUL character",
    ),
    "a NUL in a text part": (
        body(messages=[{"role": "user", "content": [{"type": "text", "text": "a\u0000"}]}]),
        "'messages[0].content[0].text' contains a NUL character",
    ),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
async def test_a_malformed_request_is_a_400_in_openais_envelope_never_forwarded_or_metered(
    gateway: Gateway,
    js: JetStreamContext,
    fake_upstream: tuple[FakeUpstream, str],
    case: str,
) -> None:
    sent, message = BAD_BODIES[case]
    key, _ = await issue_key(js)
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        auth = {"authorization": f"Bearer {key}"}
        refused = await http.post("/v1/chat/completions", headers=auth, json=sent)
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"] == "application/json"
        error = refused.json()["error"]
        assert error["type"] == "invalid_request_error" and message in error["message"]
        assert fake_upstream[0].requests == []
        # The same connection serves the next request.
        assert (await http.post("/v1/chat/completions", headers=auth, json=CHAT)).status_code == 200
    assert len(await wait_metered(js, 1)) == 1


async def test_a_body_above_the_limit_is_a_413_and_the_connection_stays_usable(
    gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    key, _ = await issue_key(js)
    huge = body(messages=[{"role": "user", "content": "x" * 10_000_000}])
    async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as http:
        auth = {"authorization": f"Bearer {key}"}
        refused = await http.post("/v1/chat/completions", headers=auth, json=huge)
        assert refused.status_code == 413, refused.text
        assert refused.json()["error"]["code"] == "request_too_large"
        assert "4 MiB" in refused.json()["error"]["message"]
        assert fake_upstream[0].requests == []
        assert (await http.post("/v1/chat/completions", headers=auth, json=CHAT)).status_code == 200
    assert len(await wait_metered(js, 1)) == 1


async def test_an_upstream_that_streams_an_unstreamed_request_is_billed_not_free(
    gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    fake_upstream[0].always_stream = True
    key, _ = await issue_key(js)
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        answer = await http.post(
            "/v1/chat/completions", headers={"authorization": f"Bearer {key}"}, json=CHAT
        )
    assert answer.status_code == 200 and b"data: [DONE]" in answer.content
    (event,) = await wait_metered(js, 1)
    assert event.stream and event.completion_tokens > 0 and event.cost_micro_usd > 0


async def test_n_answers_reserve_n_times_the_output_cap(
    gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    fake_upstream[0].delay_seconds = 0.5
    key, issued = await issue_key(js)
    account = gateway.proxy.state.budgets.account(issued.key_id)
    held = []
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        for n in (1, 3):
            request = asyncio.create_task(
                http.post(
                    "/v1/chat/completions",
                    headers={"authorization": f"Bearer {key}"},
                    json=body(n=n, max_tokens=40),
                )
            )
            async with asyncio.timeout(5):
                while account.reserved_micro == 0:
                    await asyncio.sleep(0.005)
            held.append(account.reserved_micro)
            assert (await request).status_code == 200
    # Same prompt size ("n": 1 and "n": 3); two more answers of 40 tokens at 100 micro-USD.
    assert held[1] - held[0] == 2 * 40 * 100


async def wait_metered(js: JetStreamContext, count: int) -> list[Any]:
    async with asyncio.timeout(10):
        while len(events := await metered(js)) < count:
            await asyncio.sleep(0.05)
    # Metering is published in order: a refused request metered before the next one served
    # would be here by now.
    return events


def test_a_chat_title_holds_no_control_characters() -> None:
    assert title("\u0007fix\u0001 my\u001b[31m loop\u0000\nsecond line") == "fix my[31m loop"
