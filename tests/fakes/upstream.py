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
from tests.fakes.cloud import FakeGoogle, cloud_routes

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
    # Cached prompt tokens the Responses route reports (part of its input tokens).
    cached_tokens: int = 0
    # Prompt tokens the Messages route reports as read from and written to its cache
    # (Anthropic counts them apart from input_tokens).
    cache_write_tokens: int = 0
    # The api-key Azure's doors want (tests/fakes/cloud.py), Vertex's token endpoint, and
    # the models Claude-on-Vertex calls named in their URL.
    azure_key: str = ""
    google: FakeGoogle = field(default_factory=FakeGoogle)
    vertex_models: list[str] = field(default_factory=list)
    # Path and query of each request, as received.
    targets: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    reported: list[dict[str, int]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/completions", self._completion, methods=["POST"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
                Route("/v1/responses", self._responses, methods=["POST"]),
                Route("/v1/messages", self._messages, methods=["POST"]),
                Route("/v1/messages/count_tokens", self._count_tokens, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                *cloud_routes(self),
            ]
        )

    async def _begin(self, request: Request) -> dict[str, Any]:
        body: dict[str, Any] = await request.json()
        self.requests.append(body)
        query = request.url.query
        self.targets.append(request.url.path + (f"?{query}" if query else ""))
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

    async def _responses(self, request: Request) -> Response:
        """The Responses API: ``input`` and ``instructions`` words in, ``"ok " * n`` out."""
        body = await self._begin(request)
        if self.fail_with is not None:
            return JSONResponse(self.fail_with[1], self.fail_with[0])
        n = min(int(body.get("max_output_tokens") or DEFAULT_COMPLETION), MAX_COMPLETION)
        prompt = _words(body.get("input")) + _words(body.get("instructions"))
        text = " ".join(["ok"] * n)
        message = {
            "type": "message",
            "id": "msg_fake",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
        response: dict[str, Any] = {
            "id": "resp_fake",
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "model": body.get("model"),
            "output": [message],
            "usage": None,
        }
        if self.send_usage:
            self.reported.append(
                {
                    "prompt_tokens": prompt,
                    "completion_tokens": n,
                    "cached_tokens": self.cached_tokens,
                }
            )
            response["usage"] = {
                "input_tokens": prompt,
                "input_tokens_details": {"cached_tokens": self.cached_tokens},
                "output_tokens": n,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": prompt + n,
            }
        if body.get("stream") or self.always_stream:
            return StreamingResponse(
                self._stream_response(response, n), media_type="text/event-stream"
            )
        return JSONResponse(response)

    async def _stream_response(self, response: dict[str, Any], n: int) -> AsyncIterator[bytes]:
        started = {**response, "status": "in_progress", "output": [], "usage": None}
        events: list[dict[str, Any]] = [{"type": "response.created", "response": started}]
        for index in range(n):
            delta = "ok" if index == 0 else " ok"
            events.append(
                {
                    "type": "response.output_text.delta",
                    "item_id": "msg_fake",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": delta,
                }
            )
        events.append({"type": "response.completed", "response": response})
        for number, event in enumerate(events):
            data = json.dumps({**event, "sequence_number": number})
            yield f"event: {event['type']}\ndata: {data}\n\n".encode()
            if self.chunk_delay_seconds:
                await asyncio.sleep(self.chunk_delay_seconds)

    async def _messages(self, request: Request) -> Response:
        """Anthropic's Messages API: message and system words in, ``"ok " * n`` out."""
        body = await self._begin(request)
        if self.fail_with is not None:
            return JSONResponse(self.fail_with[1], self.fail_with[0])
        n = min(int(body.get("max_tokens") or DEFAULT_COMPLETION), MAX_COMPLETION)
        prompt = _words(body.get("messages", [])) + _words(body.get("system"))
        read, written = self.cached_tokens, self.cache_write_tokens
        usage = {
            "input_tokens": prompt,
            "output_tokens": n,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": written,
        }
        if self.send_usage:
            self.reported.append(
                {
                    "prompt_tokens": prompt + read + written,
                    "completion_tokens": n,
                    "cached_tokens": read,
                    "cache_write_tokens": written,
                }
            )
        message = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": [{"type": "text", "text": " ".join(["ok"] * n)}],
            "stop_reason": "max_tokens",
            "stop_sequence": None,
            "usage": usage,
        }
        if body.get("stream") or self.always_stream:
            return StreamingResponse(
                self._stream_message(message, n), media_type="text/event-stream"
            )
        return JSONResponse(message)

    async def _stream_message(self, message: dict[str, Any], n: int) -> AsyncIterator[bytes]:
        usage = message["usage"]
        started = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {**usage, "output_tokens": 1},
        }
        block = {"type": "text", "text": ""}
        events: list[dict[str, Any]] = [
            {"type": "message_start", "message": started},
            {"type": "content_block_start", "index": 0, "content_block": block},
            {"type": "ping"},
        ]
        for index in range(n):
            delta = {"type": "text_delta", "text": "ok" if index == 0 else " ok"}
            events.append({"type": "content_block_delta", "index": 0, "delta": delta})
        final: dict[str, Any] = {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}}
        if self.send_usage:
            final["usage"] = {"output_tokens": n}
        events += [{"type": "content_block_stop", "index": 0}, final, {"type": "message_stop"}]
        for event in events:
            yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
            if self.chunk_delay_seconds:
                await asyncio.sleep(self.chunk_delay_seconds)

    async def _count_tokens(self, request: Request) -> Response:
        body = await self._begin(request)
        prompt = _words(body.get("messages", [])) + _words(body.get("system"))
        return JSONResponse({"input_tokens": prompt})

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
