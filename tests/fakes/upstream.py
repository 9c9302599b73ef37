"""The only fake: a small OpenAI-compatible upstream that returns known token usage.

Usage is deterministic so tests can reconcile costs exactly: prompt tokens are the number of
whitespace-separated words in the request's text, completion tokens are the words of the
answer, which is ``"ok " * n`` with n = ``max_tokens`` (default 5) capped at 50.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from infra.embedded import free_port

DEFAULT_COMPLETION = 5
MAX_COMPLETION = 50


def _words(value: Any) -> int:
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_words(item) for item in value)
    if isinstance(value, dict):
        return _words(value.get("content")) + _words(value.get("text"))
    return 0


@dataclass
class FakeUpstream:
    """Records what it was sent and what usage it reported, request by request."""

    delay_seconds: float = 0.0
    chunk_delay_seconds: float = 0.0
    send_usage: bool = True
    # Streams even when the request did not ask to (some servers do): billed all the same.
    always_stream: bool = False
    fail_with: tuple[int, dict[str, Any]] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    reported: list[dict[str, int]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/completions", self._completion, methods=["POST"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    async def _begin(self, request: Request) -> dict[str, Any]:
        body: dict[str, Any] = await request.json()
        self.requests.append(body)
        self.headers.append({k.lower(): v for k, v in request.headers.items()})
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        return body

    def _usage(self, prompt: int, completion: int) -> dict[str, int]:
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        self.reported.append(usage)
        return usage

    async def _chat(self, request: Request) -> Response:
        body = await self._begin(request)
        if self.fail_with is not None:
            return JSONResponse(self.fail_with[1], self.fail_with[0])
        n = min(int(body.get("max_tokens") or DEFAULT_COMPLETION), MAX_COMPLETION)
        prompt = _words(body.get("messages", []))
        if body.get("stream") or self.always_stream:
            return StreamingResponse(
                self._stream_chat(body, prompt, n), media_type="text/event-stream"
            )
        message = {"role": "assistant", "content": " ".join(["ok"] * n)}
        return JSONResponse(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model"),
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": self._usage(prompt, n),
            }
        )

    async def _stream_chat(self, body: dict[str, Any], prompt: int, n: int) -> AsyncIterator[bytes]:
        base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model"),
        }
        for index in range(n):
            delta = {"role": "assistant", "content": "ok" if index == 0 else " ok"}
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            yield f"data: {json.dumps(chunk)}\n\n".encode()
            if self.chunk_delay_seconds:
                await asyncio.sleep(self.chunk_delay_seconds)
        final = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        yield f"data: {json.dumps(final)}\n\n".encode()
        wants_usage = (body.get("stream_options") or {}).get("include_usage")
        if wants_usage and self.send_usage:
            usage_chunk: dict[str, Any] = {**base, "choices": [], "usage": self._usage(prompt, n)}
            yield f"data: {json.dumps(usage_chunk)}\n\n".encode()
        yield b"data: [DONE]\n\n"

    async def _completion(self, request: Request) -> Response:
        body = await self._begin(request)
        n = min(int(body.get("max_tokens") or DEFAULT_COMPLETION), MAX_COMPLETION)
        prompt = _words(body.get("prompt", ""))
        return JSONResponse(
            {
                "id": "cmpl-fake",
                "object": "text_completion",
                "created": int(time.time()),
                "model": body.get("model"),
                "choices": [{"index": 0, "text": " ".join(["ok"] * n), "finish_reason": "length"}],
                "usage": self._usage(prompt, n),
            }
        )

    async def _embeddings(self, request: Request) -> Response:
        body = await self._begin(request)
        inputs = body.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        data = [
            {"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]}
            for i in range(len(items))
        ]
        prompt = _words(items)
        usage = {"prompt_tokens": prompt, "total_tokens": prompt}
        self.reported.append(
            {"prompt_tokens": prompt, "completion_tokens": 0, "total_tokens": prompt}
        )
        return JSONResponse(
            {"object": "list", "data": data, "model": body.get("model"), "usage": usage}
        )

    async def _models(self, request: Request) -> Response:
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": "fake-model", "object": "model", "owned_by": "fake"}],
            }
        )


class ServerThread:
    """Runs an ASGI app with uvicorn on a free loopback port in a background thread."""

    def __init__(
        self,
        app: Any,
        port: int = 0,
        lifespan: Literal["auto", "on", "off"] = "off",
        log_level: str = "warning",
    ) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level=log_level, lifespan=lifespan
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("fake upstream did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
