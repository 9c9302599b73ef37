"""SSE relaying details, and the built-in demo model end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from nats.js import JetStreamContext

from services.gateway.stream import _events
from services.gateway.tokens import estimate_tokens
from tests.gateway.conftest import Gateway, issue_key, metered, start_gateway
from tests.positions import reach


async def pieces(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_sse_events_are_cut_at_blank_lines_whatever_the_pieces() -> None:
    stream = pieces(b'data: {"a"', b":1}\n\ndata: [DO", b"NE]\r\n\r\n", b": ping\n\n")
    events = [event async for group in _events(stream) for event in group]
    assert events == [b'data: {"a":1}\n\n', b"data: [DONE]\r\n\r\n", b": ping\n\n"]


async def test_sse_events_of_one_read_are_relayed_together() -> None:
    stream = pieces(b"data: 1\n\ndata: 2\n\ndata: 3", b"\n\n")
    groups = [group async for group in _events(stream)]
    assert groups == [[b"data: 1\n\n", b"data: 2\n\n"], [b"data: 3\n\n"]]


async def test_demo_model_answers_with_real_token_counts(
    make_settings: Any, js: JetStreamContext, gateways: list[Gateway]
) -> None:
    gateway = start_gateway(make_settings(models_file=None))
    gateways.append(gateway)
    key, _ = await issue_key(js)
    client = gateway.client(key)
    assert [m.id for m in (await client.models.list()).data] == ["demo"]
    answer = await client.chat.completions.create(
        model="demo", messages=[{"role": "user", "content": "Write hello world"}]
    )
    text = answer.choices[0].message.content or ""
    assert text.endswith("Write hello world")
    assert answer.usage is not None and answer.usage.completion_tokens == estimate_tokens(text)
    stream = await client.chat.completions.create(
        model="demo", messages=[{"role": "user", "content": "again"}], stream=True
    )
    streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert streamed.endswith("again")

    async def count() -> int:
        return len(await metered(js))

    await reach(count, 2, what="the two requests' RequestMetered in USAGE")
    events = await metered(js)
    assert [e.estimated for e in events] == [False, False]
    assert events[1].completion_tokens == estimate_tokens(streamed)
    embedding = await client.embeddings.create(model="demo", input="abc")
    assert len(embedding.data[0].embedding) == 16


async def test_demo_model_is_refused_to_an_unknown_key(
    make_settings: Any, js: JetStreamContext, gateways: list[Gateway]
) -> None:
    gateway = start_gateway(make_settings(models_file=None))
    gateways.append(gateway)
    with pytest.raises(openai.AuthenticationError) as refused:
        await gateway.client("sk-nope", max_retries=0).models.list()
    assert refused.value.code == "invalid_api_key"
