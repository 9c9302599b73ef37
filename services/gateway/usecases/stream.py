"""Relay a streamed answer chunk by chunk, learning its usage on the way.

Chunks go out as the upstream sends them, byte for byte, except the one that carries the
usage we asked for on the client's behalf: hidden from a client that did not ask, or, if the
upstream put it on a content chunk, re-encoded without it. Only a chunk that holds a usage
object is parsed as it passes; the others are kept (up to ``DEFERRED_BYTES``, then counted)
and their text is counted only if it is billed: when the upstream reports no usage or the
client goes away before the end. The events that arrive in one read leave in one write: one send
per event cost more CPU than all the rest of relaying them (docs/benchmarks.md).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import anyio
import httpx
import orjson

from services.gateway.domain.dialect import Dialect
from services.gateway.domain.pricing import Usage
from services.gateway.domain.tokens import estimate_prompt_tokens, estimate_tokens
from services.gateway.metrics import Timing
from services.gateway.usecases.exchange import Exchange

SEPARATORS = (b"\r\n\r\n", b"\n\n")
# Usage comes only under a "usage" key that is not null (OpenAI sends "usage": null on every
# chunk when usage is asked for): a chunk without one cannot carry it.
USAGE = re.compile(rb'"usage"\s*:\s*(?!null)')
DEFERRED_BYTES = 16 * 1024


class Relay:
    """Reads one upstream stream for one client and bills it once when closed."""

    def __init__(
        self,
        response: httpx.Response,
        pieces: AsyncIterator[bytes],
        exchange: Exchange,
        *,
        wants_usage: bool,
        timing: Timing,
        dialect: Dialect,
    ) -> None:
        self._response = response
        self._pieces = pieces
        self._dialect = dialect
        self._timing = timing
        self._exchange = exchange
        self._wants_usage = wants_usage
        self._usage: Usage | None = None
        self._generated = 0
        self._deferred: list[bytes] = []  # chunks whose text is not counted yet
        self._deferred_bytes = 0

    async def pump(self, send: Callable[[bytes], Awaitable[None]]) -> None:
        """Send the SSE events to the client as they arrive (those of one read at once)."""
        buffer = b""
        async for piece in self._pieces:
            self._timing.first_chunk()
            events, buffer = _split(buffer + piece if buffer else piece)
            if events:
                out = [sent for event in events if (sent := self._inspect(event)) is not None]
                if out:
                    await send(out[0] if len(out) == 1 else b"".join(out))
        if buffer.strip():
            last = self._inspect(buffer)
            if last is not None:
                await send(last)

    def _inspect(self, event: bytes) -> bytes | None:
        data = _data(event)
        if data is None or data == b"[DONE]":
            return event
        if USAGE.search(data) is None:
            self._defer(data)
            return event
        chunk = _parsed(data)
        if chunk is None:
            return event
        self._generated += estimate_tokens(self._dialect.chunk_text(chunk))
        usage = self._dialect.chunk_usage(chunk, self._usage)
        if usage is None:
            return event
        self._usage = usage
        return event if self._wants_usage else _without_usage(chunk)

    def _defer(self, data: bytes) -> None:
        self._deferred.append(data)
        self._deferred_bytes += len(data)
        if self._deferred_bytes > DEFERRED_BYTES:
            self._count_deferred()

    def _count_deferred(self) -> None:
        for data in self._deferred:
            chunk = _parsed(data)
            if chunk is not None:
                self._generated += estimate_tokens(self._dialect.chunk_text(chunk))
        self._deferred, self._deferred_bytes = [], 0

    async def close(self) -> None:
        """Bill what was generated (real usage, else our count) and free the upstream."""
        self._timing.received()
        status = self._response.status_code
        if self._usage is None or self._usage.estimated:
            self._count_deferred()  # billed by our count: every chunk's text counts
        if self._usage is not None and self._usage.estimated:
            # Usage so far (Anthropic's message_start): the output is what we saw generated.
            seen = max(self._usage.completion_tokens, self._generated)
            self._exchange.finish(replace(self._usage, completion_tokens=seen), status)
        elif self._usage is not None:
            self._exchange.finish(self._usage, status)
        else:
            prompt = estimate_prompt_tokens(self._exchange.raw)
            self._exchange.finish(Usage(prompt, self._generated, estimated=True), status)
        with anyio.CancelScope(shield=True):
            await self._response.aclose()


def _parsed(data: bytes) -> dict[str, Any] | None:
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return chunk if isinstance(chunk, dict) else None


def _without_usage(chunk: dict[str, Any]) -> bytes | None:
    if not chunk.get("choices"):
        return None
    del chunk["usage"]
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _data(event: bytes) -> bytes | None:
    if event.startswith(b"data:"):
        data = event[5:].strip()  # one data line, the usual case: as below, in one step
        if b"\n" not in data and b"\r" not in data:
            return data
    lines = [line for line in event.splitlines() if line.startswith(b"data:")]
    if not lines:
        return None
    return b"\n".join(line[5:].lstrip(b" ") for line in lines).strip()


def _split(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The whole events at the start of ``buffer`` (each with its separator) and the rest."""
    if b"\r" not in buffer:  # the usual case: one separator, one split
        parts = buffer.split(b"\n\n")
        return [part + b"\n\n" for part in parts[:-1]], parts[-1]
    events: list[bytes] = []
    while True:
        cut = _separator_end(buffer)
        if cut < 0:
            return events, buffer
        events.append(buffer[:cut])
        buffer = buffer[cut:]


def _separator_end(buffer: bytes) -> int:
    ends = [i + len(sep) for sep in SEPARATORS if (i := buffer.find(sep)) >= 0]
    return min(ends) if ends else -1
