"""One codec for every event: JSON bytes plus NATS headers, decoded by ``type``."""

from __future__ import annotations

from pydantic import TypeAdapter

from contracts.events import EVENT_TYPES, Event, EventBase
from contracts.streams import KEYS, USAGE

MSG_ID = "Nats-Msg-Id"
EVENT_TYPE = "Ais-Event-Type"
AGGREGATE_ID = "Ais-Aggregate-Id"

_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
_SPECS = {KEYS.name: KEYS, USAGE.name: USAGE}


class UnknownEvent(ValueError):
    """A message whose type this version does not know."""


def encode(event: EventBase) -> bytes:
    """The event's JSON bytes."""
    return event.model_dump_json().encode()


def headers(event: EventBase) -> dict[str, str]:
    """NATS headers: ``Nats-Msg-Id`` makes JetStream drop a re-published duplicate."""
    return {MSG_ID: event.dedup_id, EVENT_TYPE: _type(event), AGGREGATE_ID: event.aggregate_id}


def subject(event: EventBase) -> str:
    """The subject an event is published on (which decides its stream)."""
    return _SPECS[event.STREAM].subject_for(_type(event))


def decode(data: bytes | str) -> Event:
    """Parse any event by its ``type``; unknown types raise ``UnknownEvent``."""
    try:
        return _ADAPTER.validate_json(data)
    except ValueError as exc:
        raise UnknownEvent(str(exc)) from exc


def decode_as(event_type: str, data: bytes | str) -> EventBase:
    """Parse an event whose type is already known (e.g. from a header or a column)."""
    try:
        return EVENT_TYPES[event_type].model_validate_json(data)
    except KeyError as exc:
        raise UnknownEvent(f"unknown event type {event_type!r}") from exc


def _type(event: EventBase) -> str:
    return event.type
