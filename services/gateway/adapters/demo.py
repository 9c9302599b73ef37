"""The built-in ``demo`` upstream: deterministic answers with real token counts, in-process.

It speaks the OpenAI wire format like any upstream, so the gateway treats it as one (mounted
on the upstream client, no socket). Token counts use ``tokens.estimate_tokens`` on exactly
the text it received and produced.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from services.gateway.domain.tokens import BYTES_PER_TOKEN, estimate_tokens

INTRO = "This is the demo model of AI-School Coding. It repeats your last message: "


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(_text(item) for item in value)
    if isinstance(value, dict):
        return _text(value.get("content") or value.get("text") or "")
    return ""


def _answer(prompt: str, max_tokens: int | None) -> str:
    answer = INTRO + (prompt.strip().splitlines() or [""])[-1][:400]
    if max_tokens:
        answer = answer.encode()[: max_tokens * BYTES_PER_TOKEN].decode(errors="ignore")
    return answer


def _usage(prompt: str, answer: str) -> dict[str, int]:
    prompt_tokens, completion_tokens = estimate_tokens(prompt), estimate_tokens(answer)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _json(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")


async def _chat(request: Request) -> Response:
    body = orjson.loads(await request.body())
    messages = body.get("messages") or []
    prompt = "\n".join(_text(m) for m in messages)
    last_user = next((_text(m) for m in reversed(messages) if m.get("role") == "user"), "")
    answer = _answer(last_user, body.get("max_completion_tokens") or body.get("max_tokens"))
    base = {"id": f"chatcmpl-demo{_digest(prompt)}", "created": int(time.time()), "model": "demo"}
    usage = _usage(prompt, answer)
    if body.get("stream"):
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(
            _chunks(base, answer, usage if wants_usage else None), media_type="text/event-stream"
        )
    message = {"role": "assistant", "content": answer}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return _json({**base, "object": "chat.completion", "choices": [choice], "usage": usage})


async def _chunks(
    base: dict[str, Any], answer: str, usage: dict[str, int] | None
) -> AsyncIterator[bytes]:
    base = {**base, "object": "chat.completion.chunk"}
    for index, word in enumerate(answer.split(" ")):
        delta = {"role": "assistant", "content": word if index == 0 else f" {word}"}
        yield _event({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    yield _event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if usage is not None:
        yield _event({**base, "choices": [], "usage": usage})
    yield b"data: [DONE]\n\n"


def _event(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


async def _completion(request: Request) -> Response:
    body = orjson.loads(await request.body())
    prompt = _text(body.get("prompt") or "")
    answer = _answer(prompt, body.get("max_tokens"))
    choice = {"index": 0, "text": answer, "finish_reason": "stop", "logprobs": None}
    return _json(
        {
            "id": f"cmpl-demo{_digest(prompt)}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": "demo",
            "choices": [choice],
            "usage": _usage(prompt, answer),
        }
    )


async def _embeddings(request: Request) -> Response:
    body = orjson.loads(await request.body())
    inputs = body.get("input")
    items = inputs if isinstance(inputs, list) else [inputs]
    data = [
        {"object": "embedding", "index": i, "embedding": _vector(_text(item))}
        for i, item in enumerate(items)
    ]
    tokens = sum(estimate_tokens(_text(item)) for item in items)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return _json({"object": "list", "data": data, "model": "demo", "usage": usage})


def _vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round(byte / 255 - 0.5, 4) for byte in digest[:16]]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


async def _responses(request: Request) -> Response:
    """The Responses API (Codex CLI): the same answer, as a response object or its events."""
    body = orjson.loads(await request.body())
    items = body.get("input")
    items = [{"role": "user", "content": items}] if isinstance(items, str) else items or []
    prompt = "\n".join([_text(body.get("instructions") or "")] + [_text(i) for i in items])
    last_user = next((_text(i) for i in reversed(items) if i.get("role") == "user"), "")
    answer = _answer(last_user, body.get("max_output_tokens"))
    counts = _usage(prompt, answer)
    usage = {
        "input_tokens": counts["prompt_tokens"],
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": counts["completion_tokens"],
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": counts["total_tokens"],
    }
    digest = _digest(prompt)
    message = {
        "type": "message",
        "id": f"msg_demo{digest}",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": answer, "annotations": []}],
    }
    done = {
        "id": f"resp_demo{digest}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": "demo",
        "output": [message],
        "usage": usage,
    }
    if body.get("stream"):
        return StreamingResponse(_response_events(done, answer), media_type="text/event-stream")
    return _json(done)


async def _response_events(done: dict[str, Any], answer: str) -> AsyncIterator[bytes]:
    """``response.created``, the message's text word by word, ``response.completed``."""
    message = done["output"][0]
    opened = {**message, "status": "in_progress", "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    at = {"item_id": message["id"], "output_index": 0}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {**done, "status": "in_progress", "output": []}},
        {"type": "response.output_item.added", "output_index": 0, "item": opened},
        {"type": "response.content_part.added", **at, "content_index": 0, "part": part},
    ]
    for index, word in enumerate(answer.split(" ")):
        delta = word if index == 0 else f" {word}"
        events.append(
            {"type": "response.output_text.delta", **at, "content_index": 0, "delta": delta}
        )
    events += [
        {"type": "response.output_text.done", **at, "content_index": 0, "text": answer},
        {
            "type": "response.content_part.done",
            **at,
            "content_index": 0,
            "part": message["content"][0],
        },
        {"type": "response.output_item.done", "output_index": 0, "item": message},
        {"type": "response.completed", "response": done},
    ]
    for number, event in enumerate(events):
        data = orjson.dumps({**event, "sequence_number": number})
        yield b"event: " + event["type"].encode() + b"\ndata: " + data + b"\n\n"


def demo_app() -> Starlette:
    """The demo upstream's ASGI app (``/v1/chat/completions``, ``/v1/completions``, ...)."""
    # Imported here: the Messages routes reuse this module's answer and counts.
    from services.gateway.adapters.demo_anthropic import ROUTES as ANTHROPIC_ROUTES

    return Starlette(
        routes=[
            Route("/v1/chat/completions", _chat, methods=["POST"]),
            Route("/v1/completions", _completion, methods=["POST"]),
            Route("/v1/embeddings", _embeddings, methods=["POST"]),
            Route("/v1/responses", _responses, methods=["POST"]),
            *ANTHROPIC_ROUTES,
        ]
    )
