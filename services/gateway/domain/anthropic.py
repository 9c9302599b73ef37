"""Anthropic's Messages API (``POST /v1/messages``, used by Claude Code) as a gateway dialect.

Forwarded to an Anthropic-compatible upstream (``kind = "anthropic"``) with the same
admission, budget and metering as chat completions. Usage: Anthropic's ``input_tokens``
leave out the prompt read from and written to its cache, so the prompt we bill is all three,
cache reads at the cached price and writes at the models file's write price. A stream reports
the prompt on ``message_start`` and the output, so far, on each ``message_delta``; until the
last one arrives the output is taken as what we saw generated. Errors are in Anthropic's
envelope: an exhausted budget is a 402 ``billing_error`` with ``x-should-retry: false``,
which Claude Code and the anthropic SDK do not retry. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from services.gateway.domain.dialect import Dialect, reject_nul
from services.gateway.domain.kinds import ANTHROPIC_WIRE
from services.gateway.domain.pricing import Model, Usage
from services.gateway.domain.tokens import estimate_prompt_tokens, estimate_tokens
from services.gateway.domain.validation import validate
from services.gateway.errors import BadRequest, GatewayError

MESSAGES_PATH = "/messages"
COUNT_TOKENS_PATH = "/messages/count_tokens"
# Newer API versions accept system turns in ``messages`` too; the upstream has the last word.
ROLES = frozenset({"user", "assistant", "system"})
PASSED_HEADERS = ("anthropic-version", "anthropic-beta")
# Anthropic's error types by HTTP status (https://docs.anthropic.com/en/api/errors).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_body(error: GatewayError) -> bytes:
    """``{"type": "error", "error": {"type", "message"}}`` for one of our errors."""
    kind = ERROR_TYPES.get(error.status, "api_error")
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": error.message}})


def _known(value: object, names: frozenset[str]) -> bool:
    return isinstance(value, str) and value in names  # a dict or list is unhashable


def validate_messages(body: Mapping[str, Any], *, counting: bool = False) -> None:
    """Raise BadRequest naming the first field ``/v1/messages`` does not accept
    (``max_tokens`` is required, as Anthropic requires it, except to count tokens)."""
    validate(MESSAGES_PATH, body)
    cap = body.get("max_tokens")
    if cap is None and not counting:
        raise BadRequest("'max_tokens' is required: the most tokens the answer may have.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list of message objects.")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not _known(message.get("role"), ROLES):
            raise BadRequest(f"'messages[{index}].role' must be 'user', 'assistant' or 'system'.")
        content = message.get("content")
        if not isinstance(content, str) and not (
            isinstance(content, list) and all(isinstance(b, dict) and "type" in b for b in content)
        ):
            raise BadRequest(
                f"'messages[{index}].content' must be a string or a list of content blocks."
            )
    if not isinstance(body.get("system", ""), str | list):
        raise BadRequest("'system' must be a string or a list of text blocks.")
    reject_nul(body, "body")


def prepare(raw: bytes, body: dict[str, Any], model: Model, cap: int | None) -> tuple[bytes, bool]:
    """The upstream body: its model name and ``max_tokens`` lowered to ``cap``."""
    changes: dict[str, Any] = {}
    if body.get("model") != model.upstream_model:
        changes["model"] = model.upstream_model
    limit = model.max_output_tokens if cap is None else min(cap, model.max_output_tokens)
    if isinstance(body.get("max_tokens"), int) and body["max_tokens"] > limit:
        changes["max_tokens"] = limit
    if not changes:
        return raw, True
    return orjson.dumps({**body, **changes}), True


def usage_of_message(usage: object, seen: Usage | None = None) -> Usage | None:
    """Usage from a message's ``usage``: prompt = input + cache reads + cache writes; fields
    it does not carry (a ``message_delta`` may carry only ``output_tokens``) keep ``seen``."""
    if not isinstance(usage, dict):
        return None
    before = seen or Usage(0, 0)
    fresh_before = before.prompt_tokens - before.cached_tokens - before.cache_write_tokens
    fresh = _count(usage.get("input_tokens"), fresh_before)
    read = _count(usage.get("cache_read_input_tokens"), before.cached_tokens)
    written = _count(usage.get("cache_creation_input_tokens"), before.cache_write_tokens)
    return Usage(
        prompt_tokens=fresh + read + written,
        completion_tokens=_count(usage.get("output_tokens"), before.completion_tokens),
        cached_tokens=read,
        cache_write_tokens=written,
    )


def _count(value: object, default: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return max(0, value)
    return default


def whole_usage(content: bytes, raw_request: bytes, status: int) -> Usage:
    """Usage of a whole message; an error costs nothing, an unreadable 200 our count."""
    if status >= 400:
        return Usage(0, 0)
    try:
        answer = orjson.loads(content)
    except orjson.JSONDecodeError:
        return Usage(estimate_prompt_tokens(raw_request), estimate_tokens(content), estimated=True)
    usage = usage_of_message(answer.get("usage")) if isinstance(answer, dict) else None
    if usage is not None:
        return usage
    if isinstance(answer, dict) and answer.get("type") == "error":
        return Usage(0, 0)
    return Usage(estimate_prompt_tokens(raw_request), estimate_tokens(content), estimated=True)


def chunk_text(event: dict[str, Any]) -> str:
    """The text a streamed event adds: text, thinking and tool-input deltas."""
    if event.get("type") != "content_block_delta":
        return ""
    delta = event.get("delta") or {}
    return str(delta.get("text") or delta.get("thinking") or delta.get("partial_json") or "")


def chunk_usage(event: dict[str, Any], seen: Usage | None) -> Usage | None:
    """The prompt from ``message_start`` (provisional: marked estimated until the output
    is known), the output from ``message_delta``."""
    kind = event.get("type")
    if kind == "message_start":
        message = event.get("message")
        usage = usage_of_message(message.get("usage")) if isinstance(message, dict) else None
        if usage is None:
            return None
        return Usage(usage.prompt_tokens, 0, usage.cached_tokens, True, usage.cache_write_tokens)
    if kind == "message_delta":
        usage = usage_of_message(event.get("usage"), seen)
        if usage is None:
            return None
        return Usage(
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.cached_tokens,
            False,
            usage.cache_write_tokens,
        )
    return None


def chat_view(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The messages with text blocks only, for chat detection."""
    messages = [
        {"role": m.get("role"), "content": _texts(m.get("content"))}
        for m in body.get("messages") or ()
        if isinstance(m, dict)
    ]
    return {"messages": messages}


def _texts(content: object) -> object:
    if not isinstance(content, list):
        return content
    return [b for b in content if isinstance(b, dict) and b.get("type") == "text"]


MESSAGES = Dialect(
    validate=validate_messages,
    prepare=prepare,
    whole_usage=whole_usage,
    chunk_text=chunk_text,
    chunk_usage=chunk_usage,
    chat_view=chat_view,
    kinds=ANTHROPIC_WIRE,
    passed_headers=PASSED_HEADERS,
    api_name="the Anthropic Messages API",
)
