"""The key table: a KeyIssued stored from its JSON is the key its decoded event would make."""

from __future__ import annotations

import uuid
from datetime import timedelta

import orjson
import pytest

from contracts.codec import UnknownEvent, decode, encode
from contracts.events import KeyIssued, KeyRevoked
from services.gateway.domain.projection import KeyProjection
from services.gateway.errors import InvalidApiKey
from tests.gateway.test_domain import T0, issued


def students(count: int, **changes: object) -> list[KeyIssued]:
    """Keys of one school's students: the same terms and period, their own id, hash, user."""
    return [issued(key_hash=f"{n:064x}", user_id=f"student-{n}", **changes) for n in range(count)]


def from_json(events: list[KeyIssued]) -> KeyProjection:
    projection = KeyProjection()
    for event in events:
        assert projection.keys.issue_json(encode(event))
    return projection


def decoded(events: list[KeyIssued]) -> KeyProjection:
    projection = KeyProjection()
    for event in events:
        projection.apply(decode(encode(event)))
    return projection


def test_keys_stored_from_json_are_the_keys_their_decoded_events_make() -> None:
    events = [
        *students(3),
        *students(2, school_id="s2", group_id="g2", allowed_models=("m1", "m2")),
        *students(2, valid_until=T0 + timedelta(days=3), budget_micro_usd=5),
        *students(2, period_start=T0 + timedelta(days=1)),
    ]
    fast, slow = from_json(events), decoded(events)
    for event in events:
        assert fast.get(event.key_id) == slow.get(event.key_id) is not None
        assert fast.authenticate(event.key_hash, T0) == slow.authenticate(event.key_hash, T0)
    assert len(fast.keys) == len(events)


def test_a_key_stored_from_json_is_refused_once_revoked() -> None:
    (event, other) = students(2)
    projection = from_json([event, other])
    projection.apply(
        KeyRevoked(
            event_id=uuid.uuid4(), occurred_at=T0, key_id=event.key_id, revoked_by="a",
            reason="lost",
        )
    )  # fmt: skip
    with pytest.raises(InvalidApiKey, match="revoked"):
        projection.authenticate(event.key_hash, T0)
    assert not projection.authenticate(other.key_hash, T0).revoked


def test_a_key_issued_the_contract_refuses_is_refused_even_with_known_terms() -> None:
    (known,) = students(1)
    projection = from_json([known])
    bad = orjson.loads(encode(issued(key_hash="b" * 64)))
    for field, value in [("key_id", "not-a-uuid"), ("key_hash", None), ("user_id", 7)]:
        with pytest.raises(UnknownEvent):
            projection.keys.issue_json(orjson.dumps(bad | {field: value}))
    assert len(projection.keys) == 1


def test_other_events_and_other_shapes_are_left_to_the_decoder() -> None:
    projection = KeyProjection()
    revoked = KeyRevoked(
        event_id=uuid.uuid4(), occurred_at=T0, key_id=uuid.uuid4(), revoked_by="a", reason="r"
    )
    older = orjson.loads(encode(issued()))
    del older["allowed_models"]  # as events written before the field existed
    for data in (encode(revoked), orjson.dumps(older), b"not json"):
        assert not projection.keys.issue_json(data)
    assert len(projection.keys) == 0
