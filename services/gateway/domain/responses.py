"""OpenAI's Responses API (``POST /v1/responses``, used by Codex CLI) as a gateway dialect.

Admission, budget, metering and chat detection are those of chat completions; what differs
is read here: the output cap is ``max_output_tokens``, usage is ``input_tokens`` /
``output_tokens`` (on the answer, or on the ``response.completed`` event of a stream), and
the user turns are ``input`` items. The Responses API always reports usage, so nothing is
hidden from the client. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from services.gateway.domain.dialect import Dialect, reject_nul
from services.gateway.domain.pricing import Model, Usage
from services.gateway.domain.tokens import estimate_prompt_tokens, estimate_tokens
from services.gateway.domain.validation import MAX_OUTPUT_TOKENS, validate
from services.gateway.errors import BadRequest

RESPONSES_PATH = "/responses"
CAP_FIELD = "max_output_tokens"
# Streamed events whose ``delta`` is generated text (billed by our count if usage never comes).
TEXT_DELTAS = frozenset(
    {
        "response.output_text.delta",
        "response.refusal.delta",
        "response.function_call_arguments.delta",
        "response.custom_tool_call_input.delta",
        "response.reasoning_text.delta",
        "response.reasoning_summary_text.delta",
    }
)
FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def validate_responses(body: Mapping[str, Any]) -> None:
    """Raise BadRequest naming the first field that ``/v1/responses`` does not accept."""
    validate(RESPONSES_PATH, body)
    value = body.get("input")
    if not (isinstance(value, str) or (isinstance(value, list) and value)):
        raise BadRequest("'input' must be a string or a non-empty list of input items.")
    if isinstance(value, list) and not all(isinstance(item, dict) for item in value):
        raise BadRequest("'input' items must be objects (messages, tool outputs, ...).")
    cap = body.get(CAP_FIELD)
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int)):
        raise BadRequest(f"'{CAP_FIELD}' must be a whole number.")
    if isinstance(cap, int) and not 1 <= cap <= MAX_OUTPUT_TOKENS:
        raise BadRequest(f"'{CAP_FIELD}' must be between 1 and {MAX_OUTPUT_TOKENS}, not {cap}.")
    if not isinstance(body.get("instructions", ""), str | None):
        raise BadRequest("'instructions' must be a string.")
    reject_nul(body, "body")


def prepare(raw: bytes, body: dict[str, Any], model: Model, cap: int | None) -> tuple[bytes, bool]:
    """The upstream body: its model name, and ``max_output_tokens`` lowered to ``cap``
    (added when the client set none and the budget pays for less than the model's limit)."""
    changes: dict[str, Any] = {}
    if body.get("model") != model.upstream_model:
        changes["model"] = model.upstream_model
    limit = model.max_output_tokens if cap is None else min(cap, model.max_output_tokens)
    given = body.get(CAP_FIELD)
    if (isinstance(given, int) and given > limit) or (
        given is None and limit < model.max_output_tokens
    ):
        changes[CAP_FIELD] = limit
    if not changes:
        return raw, True
    return orjson.dumps({**body, **changes}), True


def usage_of_response(reported: object) -> Usage | None:
    """Usage from a response object's ``usage`` (input/output tokens, cached input)."""
    if not isinstance(reported, dict):
        return None
    usage = reported.get("usage")
    if not isinstance(usage, dict):
        return None
    details = usage.get("input_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else 0
    return Usage(
        _count(usage.get("input_tokens")), _count(usage.get("output_tokens")), _count(cached)
    )


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def whole_usage(content: bytes, raw_request: bytes, status: int) -> Usage:
    """Usage of a whole answer; an error costs nothing, an unreadable 200 our count."""
    if status >= 400:
        return Usage(0, 0)
    try:
        answer = orjson.loads(content)
    except orjson.JSONDecodeError:
        return Usage(estimate_prompt_tokens(raw_request), estimate_tokens(content), estimated=True)
    usage = usage_of_response(answer)
    if usage is not None:
        return usage
    if isinstance(answer, dict) and "error" in answer:
        return Usage(0, 0)
    text = orjson.dumps(answer.get("output") if isinstance(answer, dict) else answer)
    return Usage(estimate_prompt_tokens(raw_request), estimate_tokens(text), estimated=True)


def chunk_text(event: dict[str, Any]) -> str:
    """The text a streamed event adds (deltas of text, refusals, tool-call arguments)."""
    if event.get("type") in TEXT_DELTAS:
        return str(event.get("delta") or "")
    return ""


def chunk_usage(event: dict[str, Any], seen: Usage | None) -> Usage | None:
    """Usage from the final ``response.completed`` (or incomplete/failed) event."""
    if not isinstance(event.get("type"), str) or event["type"] not in FINAL_EVENTS:
        return None
    return usage_of_response(event.get("response"))


def chat_view(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The request's ``input`` as chat ``messages``, for chat detection."""
    value = body.get("input")
    if isinstance(value, str):
        return {"messages": [{"role": "user", "content": value}]}
    messages = [
        {"role": item.get("role"), "content": _parts_as_text(item.get("content"))}
        for item in value or ()
        if isinstance(item, dict) and item.get("role") is not None
    ]
    return {"messages": messages}


def _parts_as_text(content: object) -> object:
    if not isinstance(content, list):
        return content
    return [
        {"type": "text", "text": part.get("text")}
        for part in content
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    ]


RESPONSES = Dialect(
    validate=validate_responses,
    prepare=prepare,
    whole_usage=whole_usage,
    chunk_text=chunk_text,
    chunk_usage=chunk_usage,
    chat_view=chat_view,
    api_name="the Responses API",
)
