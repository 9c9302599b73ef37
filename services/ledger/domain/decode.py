"""USAGE messages as ledger rows: a strict, cheap path for ``RequestMetered``, the contract else.

Decoding a ``RequestMetered`` through the contract's union of models (UUID and datetime
objects, a frozen model) and then reading its attributes cost more than a third of the
ledger's CPU per event. A message exactly in the form the gateway writes it (``encode``: ids
as lowercase canonical UUIDs, every field present, JSON types exact) is validated in one
strict pydantic pass straight into a row; the ids stay strings and PostgreSQL parses them.
Anything else, however slightly different, goes through ``contracts.codec.decode``, so what
is accepted, refused (``UnknownEvent``: a dead letter) and stored is what the contract says.
"""

from __future__ import annotations

from datetime import datetime
from operator import itemgetter
from typing import Annotated, Literal, NamedTuple

from pydantic import (
    AwareDatetime,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from typing_extensions import TypedDict

from contracts.codec import decode
from contracts.events import EventBase, RequestMetered


class RequestRow(NamedTuple):
    """One metered request as the ``requests`` table stores it (ids as canonical strings)."""

    request_id: str
    at: datetime
    key_id: str
    user_id: str
    school_id: str
    group_id: str | None
    model: str
    chat_id: str | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost_micro_usd: int
    estimated: bool
    status: int
    stream: bool
    latency_ms: int
    gateway_id: str


_Uuid = Annotated[
    str,
    StringConstraints(
        strict=True, pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    ),
]
_Count = Annotated[int, Field(strict=True, ge=0)]


class CanonicalRequestMetered(TypedDict):
    """``RequestMetered`` as ``encode`` writes it; every value is one the contract accepts."""

    __pydantic_config__ = ConfigDict(extra="forbid", strict=True)  # type: ignore[misc]
    event_id: _Uuid
    type: Literal["RequestMetered"]
    version: StrictInt
    occurred_at: AwareDatetime
    request_id: _Uuid
    key_id: _Uuid
    user_id: StrictStr
    school_id: StrictStr
    group_id: StrictStr | None
    model: StrictStr
    prompt_tokens: _Count
    completion_tokens: _Count
    cached_tokens: _Count
    cost_micro_usd: _Count
    estimated: StrictBool
    status: StrictInt
    stream: StrictBool
    latency_ms: _Count
    chat_id: _Uuid | None
    gateway_id: StrictStr
    at: AwareDatetime


_CANONICAL = TypeAdapter(CanonicalRequestMetered)
_ROW = itemgetter(*RequestRow._fields)


def read_usage(data: bytes) -> RequestRow | EventBase:
    """A USAGE message as a request row, or as the event the contract decodes.

    Raises ``UnknownEvent`` for what the contract cannot read."""
    try:
        return RequestRow(*_ROW(_CANONICAL.validate_json(data)))
    except ValidationError:
        pass  # not in the canonical form (or not a RequestMetered): the contract decides
    event = decode(data)
    return request_row(event) if isinstance(event, RequestMetered) else event


def request_row(event: RequestMetered) -> RequestRow:
    """The row of a decoded ``RequestMetered``."""
    chat_id = None if event.chat_id is None else str(event.chat_id)
    return RequestRow(
        str(event.request_id),
        event.at,
        str(event.key_id),
        event.user_id,
        event.school_id,
        event.group_id,
        event.model,
        chat_id,
        event.prompt_tokens,
        event.completion_tokens,
        event.cached_tokens,
        event.cost_micro_usd,
        event.estimated,
        event.status,
        event.stream,
        event.latency_ms,
        event.gateway_id,
    )
