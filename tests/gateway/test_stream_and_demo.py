"""SSE relaying details, and the built-in demo model end to end."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from nats.js import JetStreamContext

from services.gateway.domain.tokens import estimate_tokens
from services.gateway.usecases.stream import _split
from tests.gateway.conftest import Gateway, issue_key, metered, start_gateway
from tests.positions import reach


def groups(*pieces: bytes) -> list[list[bytes]]:
    """The events each read completes, as the relay cuts them (``Relay.pump``)."""
    found, buffer = [], b""
    for piece in pieces:
        events, buffer = _split(buffer + piece)
        if events:
            found.append(events)
    assert buffer == b""
    return found


def test_sse_events_are_cut_at_blank_lines_whatever_the_pieces() -> None:
    parts = (b'data: {"a"', b":1}\n\ndata: [DO", b"NE]\r\n\r\n", b": ping\n\n")
    events = [event for group in groups(*parts) for event in group]
    assert events == [b'data: {"a":1}\n\n', b"data: [DONE]\r\n\r\n", b": ping\n\n"]


def test_sse_events_with_mixed_separators_are_cut_at_the_first_blank_line() -> None:
    parts = (b"data: 1\r\n\r\ndata: 2\n\n\ndata: 3\n\n",)
    assert groups(*parts) == [[b"data: 1\r\n\r\n", b"data: 2\n\n", b"\ndata: 3\n\n"]]


def test_sse_events_of_one_read_are_relayed_together() -> None:
    assert groups(b"data: 1\n\ndata: 2\n\ndata: 3", b"\n\n") == [
        [b"data: 1\n\n", b"data: 2\n\n"],
        [b"data: 3\n\n"],
    ]


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
