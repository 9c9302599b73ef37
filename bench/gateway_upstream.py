"""The benchmarks' fake LLM upstream: a raw ASGI app under uvicorn, as cheap as it can be.

``POST /v1/chat/completions`` answers a fixed completion with usage, or, when the request
says ``"stream": true``, ``CHUNKS`` server-sent chunks (one ``send`` each), a usage chunk
when asked and ``[DONE]``. ``AISCHOOL_BENCH_START_DELAY`` and ``AISCHOOL_BENCH_CHUNK_DELAY``
(seconds) make it a slow model: the delay before the first byte and between chunks.
``GET /count`` says how many completions it has served, which the benchmark compares with
the ``RequestMetered`` events in USAGE (every request that reached the upstream is metered).

    .venv/bin/uvicorn bench.gateway_upstream:app --port 9000 --no-access-log
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

CHUNKS = 20
USAGE = {"prompt_tokens": 12, "completion_tokens": CHUNKS, "total_tokens": 12 + CHUNKS}
ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": USAGE,
    }
)
BASE = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "m"}
CHUNK = b"data: %s\n\n" % orjson.dumps(
    {**BASE, "choices": [{"index": 0, "delta": {"content": " ok"}, "finish_reason": None}]}
)
USAGE_CHUNK = b"data: %s\n\n" % orjson.dumps({**BASE, "choices": [], "usage": USAGE})
DONE = b"data: [DONE]\n\n"
JSON = [(b"content-type", b"application/json")]
SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


class Upstream:
    """The ASGI app; ``served`` counts completions whose request was read."""

    def __init__(self, start_delay: float = 0.0, chunk_delay: float = 0.0) -> None:
        self.start_delay, self.chunk_delay = start_delay, chunk_delay
        self.served = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/count":
            await _answer(send, JSON, orjson.dumps({"served": self.served}))
            return
        self.served += 1
        request = orjson.loads(body)
        if self.start_delay:
            await asyncio.sleep(self.start_delay)
        if request.get("stream") is True:
            options = request.get("stream_options") or {}
            await self._stream(send, options.get("include_usage") is True)
        else:
            await _answer(send, JSON, ANSWER)

    async def _stream(self, send: Send, usage: bool) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": SSE})
        for index in range(CHUNKS):
            if index and self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
        tail = (USAGE_CHUNK if usage else b"") + DONE
        await send({"type": "http.response.body", "body": tail})


async def _answer(send: Send, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


app = Upstream(
    float(os.environ.get("AISCHOOL_BENCH_START_DELAY", "0")),
    float(os.environ.get("AISCHOOL_BENCH_CHUNK_DELAY", "0")),
)
