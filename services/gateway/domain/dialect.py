"""A wire format the gateway speaks (chat completions, Responses, ...): how a request is
prepared for the upstream and how its answer is read back for billing. Pure.

Admission, reservation, relaying and settlement are the same for every format
(``exchange.py``, ``proxy.py``, ``stream.py``); only these few readings differ.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from services.gateway.domain.kinds import OPENAI_WIRE
from services.gateway.domain.pricing import DEMO_KIND, Model, Usage
from services.gateway.domain.validation import NUL
from services.gateway.errors import BadRequest, ModelNotFound

# (raw body, parsed body, model, output cap per answer) -> (upstream body, client wants usage)
Prepare = Callable[[bytes, dict[str, Any], Model, "int | None"], tuple[bytes, bool]]
# (answer body, raw request, status) -> usage to bill
WholeUsage = Callable[[bytes, bytes, int], Usage]
# (streamed event's JSON, usage seen so far) -> usage, if this event reports any
ChunkUsage = Callable[[dict[str, Any], "Usage | None"], "Usage | None"]


@dataclass(frozen=True)
class Dialect:
    """The format-specific readings of one API."""

    validate: Callable[[Mapping[str, Any]], None]
    prepare: Prepare
    whole_usage: WholeUsage
    chunk_text: Callable[[dict[str, Any]], str]
    chunk_usage: ChunkUsage
    # The user turns as chat ``messages``, for chat detection; None: no chat detection.
    chat_view: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None
    # The upstream kinds that speak this format (the built-in demo speaks them all).
    kinds: frozenset[str] = OPENAI_WIRE
    # Client headers sent on to the upstream (e.g. ``anthropic-version``).
    passed_headers: tuple[str, ...] = ()
    api_name: str = "the OpenAI API"

    def check(self, model: Model) -> None:
        """Raise ModelNotFound when the model's upstream does not speak this format."""
        if model.kind != DEMO_KIND and model.kind not in self.kinds:
            raise ModelNotFound(
                f"The model `{model.name}` is not served through {self.api_name} here."
            )

    def passed(self, headers: Mapping[str, str]) -> dict[str, str]:
        """The client's headers this format sends on to the upstream."""
        return {name: headers[name] for name in self.passed_headers if name in headers}


def reject_nul(value: object, where: str) -> None:
    """Raise BadRequest naming the field of any text holding a NUL (PostgreSQL stores none)."""
    if isinstance(value, str) and NUL in value:
        raise BadRequest(f"'{where}' contains a NUL character (\\u0000); remove it.")
    if isinstance(value, dict):
        for name, item in value.items():
            reject_nul(item, name)
    elif isinstance(value, list):
        for item in value:
            reject_nul(item, where)
