"""The OpenAI endpoints: authenticate, admit, forward, relay, settle. No I/O but the upstream."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from services.gateway.adapters.upstream import Upstream, content_type
from services.gateway.adapters.wire import Answer, Incoming, Streamed, Whole
from services.gateway.domain.chats import ChatTracker
from services.gateway.domain.dialect import Dialect
from services.gateway.domain.pricing import Model, Usage, usage_from
from services.gateway.domain.projection import KeyRecord
from services.gateway.domain.tokens import estimate_prompt_tokens, estimate_tokens, generated_text
from services.gateway.domain.validation import validate
from services.gateway.errors import BadRequest, PayloadTooLarge, UpstreamTimeout
from services.gateway.metrics import NO_MODEL, GatewayMetrics, Timing
from services.gateway.usecases.exchange import Exchange, State, authenticate, model_for
from services.gateway.usecases.stream import Relay

CHAT_PATH = "/chat/completions"
EMBEDDINGS_PATH = "/embeddings"
SESSION_HEADER = "x-session-id"
OUTPUT_FIELDS = ("max_tokens", "max_completion_tokens")
EVENT_STREAM = "text/event-stream"
MAX_BODY_BYTES = 4 * 1024 * 1024
# A refused body up to this size is read to its end, so the connection can be reused.
DRAIN_BYTES = 64 * 1024 * 1024
JSON_SPACE = (b" ", b"\t", b"\r", b"\n")


@dataclass
class Proxy:
    """Forwards OpenAI requests of valid keys within their budget to the model's server."""

    state: State
    upstream: Upstream
    chats: ChatTracker
    metrics: GatewayMetrics
    max_body_bytes: int = MAX_BODY_BYTES

    async def handle(self, request: Incoming, path: str, dialect: Dialect | None = None) -> Answer:
        """Serve one POST to ``/v1{path}``, counted in the metrics whatever its outcome.

        ``dialect`` reads a wire format other than OpenAI's chat/completions/embeddings."""
        started, model = time.perf_counter(), NO_MODEL
        dialect = dialect or openai_dialect(path)
        try:
            key = authenticate(self.state, request.headers)
            raw = await read_body(request, self.max_body_bytes)
            body = parse_object(raw)
            dialect.validate(body)
            chosen = model_for(self.state, key, body.get("model"))
            dialect.check(chosen)
            model = chosen.name
            timing = self.metrics.timing(model, started)
            exchange, content, wants_usage = await self._admit(
                request, path, dialect, key=key, model=chosen, raw=raw, body=body
            )
            # The parsed body is not needed past here: dropped before the upstream is awaited,
            # its memory is reused while still in the cache (a 40 KiB body is thousands of
            # objects; kept through the exchange, 16 requests in flight outgrew the cache and
            # parsing cost four to five times as much: docs/benchmarks.md, "Fifth round").
            del body
            response = await self._forward(
                request, path, dialect, exchange, content, wants_usage=wants_usage, timing=timing
            )
        except Exception as exc:
            self.metrics.raised(path, model, exc)
            raise
        self.metrics.answered(path, model, response.status_code)
        return response

    async def _admit(
        self,
        request: Incoming,
        path: str,
        dialect: Dialect,
        *,
        key: KeyRecord,
        model: Model,
        raw: bytes,
        body: dict[str, Any],
    ) -> tuple[Exchange, bytes, bool]:
        """Admit the request, find its chat, prepare the upstream body: the last uses of the
        parsed body (the exchange, the body to send and whether the client asked for usage)."""
        exchange = await Exchange.enter(
            self.state, key, model, raw, body, generates=path != EMBEDDINGS_PATH
        )
        try:
            if dialect.chat_view is not None:
                self._observe_chat(exchange, request.headers, dialect.chat_view(body))
            cap = exchange.answer_cap if path != EMBEDDINGS_PATH else None
            content, wants_usage = dialect.prepare(raw, body, model, cap)
        except BaseException:
            exchange.abandon()
            raise
        return exchange, content, wants_usage

    async def _forward(
        self,
        request: Incoming,
        path: str,
        dialect: Dialect,
        exchange: Exchange,
        content: bytes,
        *,
        wants_usage: bool,
        timing: Timing,
    ) -> Answer:
        model = exchange.model
        try:
            exchange.intend()
            outgoing = self.upstream.build(
                model, path, content, exchange.request_id, dialect.passed(request.headers)
            )
            timing.sending()
            response = await self.upstream.send(outgoing)
        except UpstreamTimeout:
            exchange.finish(Usage(0, 0), 504)
            raise
        except BaseException:
            exchange.abandon()
            raise
        headers = {"x-request-id": str(exchange.request_id)}
        # Billed by what arrives, not by what the client declared: an upstream that streams
        # an answer the client did not ask to stream is relayed and billed as a stream.
        kind = content_type(response)
        if response.status_code == 200 and is_event_stream(kind):
            exchange.stream = True
            timing.relaying()
            pieces = self.upstream.chunks(response)
            relay = Relay(
                response, pieces, exchange, wants_usage=wants_usage, timing=timing, dialect=dialect
            )
            return Streamed(relay, headers, EVENT_STREAM)
        answer = await self._whole(response, exchange, headers, timing, dialect, kind=kind)
        timing.answered()
        return answer

    async def _whole(
        self,
        response: Any,
        exchange: Exchange,
        headers: dict[str, str],
        timing: Timing,
        dialect: Dialect,
        *,
        kind: str,
    ) -> Whole:
        try:
            content = await self.upstream.read(response)
            timing.received()
        except BaseException:
            exchange.finish(Usage(estimate_prompt_tokens(exchange.raw), 0, estimated=True), 502)
            raise
        finally:
            await response.aclose()
        status = response.status_code
        exchange.finish(dialect.whole_usage(content, exchange.raw, status), status)
        return Whole(content, response.status_code, headers, kind or "application/json")

    def _observe_chat(
        self, exchange: Exchange, headers: Mapping[str, str], body: Mapping[str, Any]
    ) -> None:
        session = headers.get(SESSION_HEADER) or None
        decision = self.chats.observe(exchange.key.key_id, session, body)
        exchange.chat_id = decision.chat_id
        if decision.created:
            exchange.chat_created(
                decision.chat_id, decision.title, decision.opening, decision.session
            )


@functools.cache  # one per path: the routes are a handful
def openai_dialect(path: str) -> Dialect:
    """OpenAI's chat completions, completions and embeddings (chat detection on chats)."""
    return Dialect(
        validate=lambda body: validate(path, body),
        prepare=upstream_body,
        whole_usage=usage_of,
        chunk_text=generated_text,
        chunk_usage=lambda chunk, seen: usage_from(chunk.get("usage")),
        chat_view=(lambda body: body) if path == CHAT_PATH else None,
    )


def is_event_stream(kind: str) -> bool:
    """True when the upstream's content type is server-sent events."""
    return kind.split(";", maxsplit=1)[0].strip() == EVENT_STREAM


async def read_body(request: Incoming, limit: int) -> bytes:
    """The whole body, or PayloadTooLarge once it passes ``limit`` bytes.

    The rest of a refused body is still read (up to ``DRAIN_BYTES``) and dropped, so the
    client's connection stays usable for its next request."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > DRAIN_BYTES:
        raise _too_large(limit)
    pieces, size = [], 0
    async for piece in request.stream():
        size += len(piece)
        if size <= limit:
            pieces.append(piece)
        elif size > DRAIN_BYTES:
            break
    if size > limit:
        raise _too_large(limit)
    return b"".join(pieces)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than this gateway accepts ({limit // 1024 // 1024} MiB)."
    )


def parse_object(raw: bytes) -> dict[str, Any]:
    """The request's JSON object, or BadRequest."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc.msg}.") from exc
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    return body


def upstream_body(
    raw: bytes, body: dict[str, Any], model: Model, cap: int | None = None
) -> tuple[bytes, bool]:
    """What to send upstream and whether the client asked for streamed usage itself.

    A stream always asks the upstream for usage, so we can bill it; the output cap is lowered
    to ``cap``, what the reservation paid for (at most the model's limit: OpenCode asks
    32000; less when the budget left pays for less); the original bytes are sent unchanged
    when nothing needs changing.
    """
    changes: dict[str, Any] = {}
    if body.get("model") != model.upstream_model:
        changes["model"] = model.upstream_model
    changes |= _output_caps(body, model, cap)
    options = body.get("stream_options")
    wants_usage = isinstance(options, dict) and options.get("include_usage") is True
    if body.get("stream") is True and not wants_usage:
        changes["stream_options"] = {**(options or {}), "include_usage": True}
    if not changes:
        return raw, wants_usage
    return _changed(raw, body, changes), wants_usage


def _changed(raw: bytes, body: dict[str, Any], changes: dict[str, Any]) -> bytes:
    """The body with ``changes``: members it lacks are written in front of the original bytes
    (Aider's requests only lack ``stream_options``: encoding 40 KiB again cost more than the
    rest of preparing them); a member it has is replaced by encoding the whole body again."""
    if not body or any(name in body for name in changes):
        return orjson.dumps({**body, **changes})
    start = 0
    while raw[start : start + 1] in JSON_SPACE:  # what may come before the "{"
        start += 1
    if raw[start : start + 1] != b"{":
        return orjson.dumps({**body, **changes})
    added = orjson.dumps(changes)  # {"a":...}: its members go after the body's "{"
    return b"{" + added[1:-1] + b"," + raw[start + 1 :]


def usage_of(content: bytes, raw_request: bytes, status: int = 200) -> Usage:
    """Usage from a whole JSON answer; if it has none, our estimate of prompt and output.

    An error answer costs nothing; a successful one we cannot read is billed by our count of
    its bytes rather than as free."""
    if status >= 400:
        return Usage(0, 0)
    try:
        answer = orjson.loads(content)
    except orjson.JSONDecodeError:
        return Usage(estimate_prompt_tokens(raw_request), estimate_tokens(content), estimated=True)
    if not isinstance(answer, dict) or "error" in answer:
        return Usage(0, 0)
    usage = usage_from(answer.get("usage"))
    if usage is not None:
        return usage
    text = "".join(_answer_texts(answer))
    return Usage(estimate_prompt_tokens(raw_request), estimate_tokens(text), estimated=True)


def _answer_texts(answer: dict[str, Any]) -> list[str]:
    texts = []
    for choice in answer.get("choices") or ():
        message = choice.get("message") or {}
        texts.append(str(choice.get("text") or message.get("content") or ""))
        texts.extend(str(call) for call in message.get("tool_calls") or ())
    return texts


def _output_caps(body: dict[str, Any], model: Model, cap: int | None) -> dict[str, Any]:
    """The output fields to change so no answer can pass ``cap`` tokens."""
    limit = model.max_output_tokens if cap is None else min(cap, model.max_output_tokens)
    given = [f for f in OUTPUT_FIELDS if isinstance(body.get(f), int)]
    lowered = {f: limit for f in given if body[f] > limit}
    if not given and limit < model.max_output_tokens:
        # The client set no cap and the budget pays for less than the model's limit.
        lowered["max_tokens"] = limit
    return lowered
