"""Each event's JSON Schema is frozen: changing a contract must be a deliberate act.

After an intended change, run ``UPDATE_SCHEMAS=1 pytest tests/contracts`` and commit the
updated files under ``tests/contracts/schemas/`` together with the change (and bump the
event's ``version`` when old consumers cannot read the new shape).
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from contracts import codec
from contracts.events import EVENT_TYPES, ChatCreated, KeyRevoked

SNAPSHOTS = Path(__file__).parent / "schemas"


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_event_schema_matches_its_frozen_snapshot(name: str) -> None:
    schema = json.dumps(EVENT_TYPES[name].model_json_schema(), indent=2, sort_keys=True) + "\n"
    path = SNAPSHOTS / f"{name}.json"
    if os.environ.get("UPDATE_SCHEMAS") == "1":
        path.write_text(schema)
    assert path.exists(), f"no frozen schema for {name}: run with UPDATE_SCHEMAS=1"
    assert path.read_text() == schema, f"{name} changed: see this module's docstring"


def test_every_snapshot_belongs_to_an_event() -> None:
    assert {p.stem for p in SNAPSHOTS.glob("*.json")} == set(EVENT_TYPES)


def test_a_changed_field_no_longer_matches_the_snapshot() -> None:
    frozen = json.loads((SNAPSHOTS / "KeyRevoked.json").read_text())
    current = KeyRevoked.model_json_schema()
    current["properties"]["reason"] = {"type": "integer"}
    assert current != frozen


def test_events_are_frozen_and_reject_unknown_fields() -> None:
    event = KeyRevoked(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        key_id=uuid.uuid4(),
        revoked_by="a",
        reason="b",
    )
    with pytest.raises(ValidationError):
        event.reason = "c"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        KeyRevoked.model_validate({**event.model_dump(), "surprise": 1})


def test_codec_round_trips_by_type_and_sets_the_dedup_header() -> None:
    chat = ChatCreated(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        chat_id=uuid.uuid4(),
        key_id=uuid.uuid4(),
        user_id="u1",
        school_id="s1",
        group_id=None,
        model="demo",
        title="Fix the greeting",
        at=datetime.now(UTC),
    )
    assert codec.decode(codec.encode(chat)) == chat
    assert codec.subject(chat) == "coding.usage.chat_created"
    assert codec.headers(chat)[codec.MSG_ID] == str(chat.event_id)
    assert codec.headers(chat)[codec.AGGREGATE_ID] == str(chat.chat_id)


def test_decoding_an_unknown_type_raises_unknown_event() -> None:
    with pytest.raises(codec.UnknownEvent):
        codec.decode(b'{"type": "KeyMelted"}')


def test_naive_timestamps_are_rejected() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        KeyRevoked(
            event_id=uuid.uuid4(),
            occurred_at=datetime(2026, 1, 1),
            key_id=uuid.uuid4(),
            revoked_by="a",
            reason="b",
        )


def test_a_version_one_chat_created_without_its_fingerprint_still_decodes() -> None:
    old = {
        "type": "ChatCreated",
        "version": 1,
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2026-12-01T08:00:00+00:00",
        "chat_id": str(uuid.uuid4()),
        "key_id": str(uuid.uuid4()),
        "user_id": "u1",
        "school_id": "s1",
        "group_id": None,
        "model": "demo",
        "title": "Fix the greeting",
        "at": "2026-12-01T08:00:00+00:00",
    }
    chat = codec.decode(json.dumps(old).encode())
    assert isinstance(chat, ChatCreated)
    assert (chat.version, chat.opening, chat.session) == (1, (), None)
