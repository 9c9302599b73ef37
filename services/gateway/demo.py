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

from services.gateway.tokens import BYTES_PER_TOKEN, estimate_tokens

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


def demo_app() -> Starlette:
    """The demo upstream's ASGI app (``/v1/chat/completions``, ``/v1/completions``, ...)."""
    return Starlette(
        routes=[
            Route("/v1/chat/completions", _chat, methods=["POST"]),
            Route("/v1/completions", _completion, methods=["POST"]),
            Route("/v1/embeddings", _embeddings, methods=["POST"]),
        ]
    )
