"""Token counts without a tokenizer download: a conservative estimate. Pure.

tiktoken fetches its encodings at first use, which these machines cannot do, so we count
one token per three UTF-8 bytes, rounded up. BPE tokenizers average about four bytes per
token on English and code, so the estimate errs high: a reservation made from it covers
the real cost, and an estimated bill (upstream sent no usage) does not undercharge.
"""

from __future__ import annotations

from typing import Any

BYTES_PER_TOKEN = 3


def estimate_tokens(data: bytes | str) -> int:
    """Tokens of a text or a byte string, rounded up."""
    size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
    return -(-size // BYTES_PER_TOKEN)


def estimate_prompt_tokens(raw_body: bytes) -> int:
    """Upper estimate of a request's prompt: the whole JSON body counts, tools and all."""
    return estimate_tokens(raw_body)


def generated_text(chunk: dict[str, Any]) -> str:
    """The text a streamed chunk adds: content, refusal, text, and tool-call arguments."""
    parts: list[str] = []
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        parts.append(str(choice.get("text") or ""))
        parts.append(str(delta.get("content") or ""))
        parts.append(str(delta.get("reasoning_content") or ""))
        for call in delta.get("tool_calls") or ():
            function = call.get("function") or {}
            parts.append(str(function.get("name") or ""))
            parts.append(str(function.get("arguments") or ""))
    return "".join(parts)
