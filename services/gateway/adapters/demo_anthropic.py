"""The built-in ``demo`` model on Anthropic's Messages API: the same answer as on chat
completions, as a message or its stream of events, with real token counts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from services.gateway.adapters.demo import _answer, _digest, _json, _text
from services.gateway.domain.tokens import estimate_tokens


def _prompt(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    return "\n".join([_text(body.get("system") or "")] + [_text(m) for m in messages])


async def _messages(request: Request) -> Response:
    body = orjson.loads(await request.body())
    messages = body.get("messages") or []
    prompt = _prompt(body)
    last_user = next((_text(m) for m in reversed(messages) if m.get("role") == "user"), "")
    answer = _answer(last_user, body.get("max_tokens"))
    usage = {
        "input_tokens": estimate_tokens(prompt),
        "output_tokens": estimate_tokens(answer),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    message = {
        "id": f"msg_demo{_digest(prompt)}",
        "type": "message",
        "role": "assistant",
        "model": "demo",
        "content": [{"type": "text", "text": answer}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }
    if body.get("stream"):
        return StreamingResponse(_events(message, answer), media_type="text/event-stream")
    return _json(message)


async def _events(message: dict[str, Any], answer: str) -> AsyncIterator[bytes]:
    """message_start, the text word by word, message_delta with the output, message_stop."""
    usage = message["usage"]
    started = {
        **message,
        "content": [],
        "stop_reason": None,
        "usage": {**usage, "output_tokens": 0},
    }
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": started},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ]
    for index, word in enumerate(answer.split(" ")):
        delta = {"type": "text_delta", "text": word if index == 0 else f" {word}"}
        events.append({"type": "content_block_delta", "index": 0, "delta": delta})
    events += [
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        },
        {"type": "message_stop"},
    ]
    for event in events:
        yield b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


async def _count_tokens(request: Request) -> Response:
    body = orjson.loads(await request.body())
    return _json({"input_tokens": estimate_tokens(_prompt(body))})


ROUTES = [
    Route("/v1/messages", _messages, methods=["POST"]),
    Route("/v1/messages/count_tokens", _count_tokens, methods=["POST"]),
]
