"""What a request body must be before it is admitted: types, ranges, known roles. Pure.

Checked before any budget is reserved, so a malformed request costs nothing and is never
forwarded: ``"stream": "yes"`` was once taken as "not streaming", so no usage was asked for
and an upstream that streamed anyway was billed $0. Each rule names the field it failed, in
OpenAI's words where it has them. Text may hold no NUL character: PostgreSQL cannot store
one, and a chat title made from it once stopped the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.gateway.errors import BadRequest

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
PART_TYPES = frozenset({"text", "image_url", "input_audio", "file", "refusal"})
MAX_OUTPUT_TOKENS = 1_000_000
MAX_CHOICES = 128
# (low, high) for the sampling numbers OpenAI documents with a range.
NUMBER_RANGES = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}
NUL = "\x00"


def validate(path: str, body: Mapping[str, Any]) -> None:
    """Raise BadRequest naming the first field that is not what ``/v1{path}`` accepts."""
    _common(body)
    if path == "/chat/completions":
        _messages(body.get("messages"))
    elif path == "/completions":
        _prompt(body.get("prompt"))
    elif path == "/embeddings":
        _embedding_input(body.get("input"))


def choices(body: Mapping[str, Any]) -> int:
    """How many answers the request asks for (``n``; validated before)."""
    n = body.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) else 1


def _common(body: Mapping[str, Any]) -> None:
    _optional_bool(body, "stream")
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise BadRequest("'stream_options' must be an object, like {\"include_usage\": true}.")
        _optional_bool(options, "include_usage", "stream_options.include_usage")
    for field in ("max_tokens", "max_completion_tokens"):
        _optional_int(body, field, 1, MAX_OUTPUT_TOKENS)
    _optional_int(body, "n", 1, MAX_CHOICES)
    for field, (low, high) in NUMBER_RANGES.items():
        _optional_number(body, field, low, high)


def _optional_bool(body: Mapping[str, Any], field: str, name: str | None = None) -> None:
    value = body.get(field)
    if value is not None and not isinstance(value, bool):
        raise BadRequest(f"'{name or field}' must be true or false, not {_shown(value)}.")


def _optional_int(body: Mapping[str, Any], field: str, low: int, high: int) -> None:
    value = body.get(field)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"'{field}' must be a whole number, not {_shown(value)}.")
    if not low <= value <= high:
        raise BadRequest(f"'{field}' must be between {low} and {high}, not {value}.")


def _optional_number(body: Mapping[str, Any], field: str, low: float, high: float) -> None:
    value = body.get(field)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"'{field}' must be a number, not {_shown(value)}.")
    if not low <= value <= high:
        raise BadRequest(f"'{field}' must be between {low:g} and {high:g}, not {value}.")


def _messages(messages: object) -> None:
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list of message objects.")
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise BadRequest(f"'{where}' must be an object with a 'role' and a 'content'.")
        role = message.get("role")
        if not isinstance(role, str) or role not in ROLES:  # a dict is unhashable
            known = ", ".join(sorted(ROLES))
            raise BadRequest(f"'{where}.role' must be one of {known}, not {_shown(role)}.")
        _content(message.get("content"), f"{where}.content")
        _text(message.get("name"), f"{where}.name", optional=True)


def _content(content: object, where: str) -> None:
    if content is None or isinstance(content, str):
        _text(content, where, optional=True)
        return
    if not isinstance(content, list):
        raise BadRequest(f"'{where}' must be a string or a list of content parts.")
    for index, part in enumerate(content):
        _part(part, f"{where}[{index}]")


def _part(part: object, where: str) -> None:
    if (
        not isinstance(part, dict)
        or not isinstance(part.get("type"), str)
        or part["type"] not in PART_TYPES
    ):
        known = ", ".join(sorted(PART_TYPES))
        raise BadRequest(f"'{where}' must be a content part with a 'type' of {known}.")
    if part["type"] == "text":
        _text(part.get("text"), f"{where}.text")


def _text(value: object, where: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise BadRequest(f"'{where}' must be a string, not {_shown(value)}.")
    if NUL in value:
        raise BadRequest(f"'{where}' contains a NUL character (\\u0000); remove it.")


def _prompt(prompt: object) -> None:
    if isinstance(prompt, str):
        _text(prompt, "prompt")
    elif isinstance(prompt, list) and prompt:
        for index, item in enumerate(prompt):
            if isinstance(item, str):
                _text(item, f"prompt[{index}]")
            elif not _tokens(item) and not (isinstance(item, list) and _tokens_list(item)):
                raise BadRequest(f"'prompt[{index}]' must be a string or a list of token ids.")
    else:
        raise BadRequest("'prompt' must be a string or a non-empty list of strings.")


def _embedding_input(value: object) -> None:
    if isinstance(value, str):
        _text(value, "input")
    elif isinstance(value, list) and value:
        if all(isinstance(item, str) for item in value):
            for index, item in enumerate(value):
                _text(item, f"input[{index}]")
        elif not (_tokens_list(value) or all(_tokens_list(item) for item in value)):
            raise BadRequest("'input' must be a string, a list of strings or of token ids.")
    else:
        raise BadRequest("'input' must be a string or a non-empty list of strings.")


def _tokens(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _tokens_list(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(_tokens(v) for v in value)


def _shown(value: object) -> str:
    """A short rendering of a bad value for an error message (never the whole body)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value[:20] + ("…" if len(value) > 20 else ""))
    if isinstance(value, dict | list):
        return f"a JSON {'object' if isinstance(value, dict) else 'list'}"
    return "null" if value is None else repr(value)[:20]
