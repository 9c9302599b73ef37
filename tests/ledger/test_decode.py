"""The cheap decoder reads a RequestMetered exactly as the contract does, or defers to it."""

from __future__ import annotations

import orjson
import pytest

from contracts.codec import UnknownEvent, encode
from contracts.events import RequestMetered
from services.ledger.domain.decode import (
    CanonicalRequestMetered,
    RequestRow,
    read_usage,
    request_row,
)
from tests.ledger.conftest import ALICE, CAROL, NOW


def _raw(**changes: object) -> bytes:
    event = orjson.loads(encode(ALICE.metered(1234, at=NOW)))
    event.update(changes)
    return orjson.dumps({k: v for k, v in event.items() if v is not _DROP})


_DROP = object()


def test_a_canonical_event_gives_the_same_row_as_the_contracts_decoder() -> None:
    event = ALICE.metered(1234, at=NOW)
    assert read_usage(encode(event)) == request_row(event)
    staff = CAROL.metered(7)
    assert read_usage(encode(staff)) == request_row(staff)


def test_the_canonical_form_has_exactly_the_contracts_fields() -> None:
    assert set(CanonicalRequestMetered.__annotations__) == set(RequestMetered.model_fields)


@pytest.mark.parametrize(
    "changes",
    [
        {"at": "2026-11-20T11:00:00+01:00"},  # another offset: the same instant
        {"prompt_tokens": 10.0},  # a float the contract accepts as an integer
        {"key_id": "0000000000000000000000000000000A"},  # a UUID without hyphens
        {"event_id": "0000000A-0000-0000-0000-000000000001"},  # in capitals
        {"estimated": _DROP, "version": _DROP},  # defaults
    ],
)
def test_a_valid_event_in_another_form_is_read_through_the_contract(
    changes: dict[str, object],
) -> None:
    row = read_usage(_raw(**changes))
    assert isinstance(row, RequestRow)
    assert row.at == NOW
    assert row.cost_micro_usd == 1234


@pytest.mark.parametrize(
    "changes",
    [
        {"extra": 1},
        {"prompt_tokens": -1},
        {"at": "2026-11-20T10:00:00"},  # no offset
        {"request_id": "not-a-uuid"},
        {"stream": "maybe"},
        {"type": "RequestMetered2"},
    ],
)
def test_what_the_contract_refuses_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(UnknownEvent):
        read_usage(_raw(**changes))


def test_garbage_is_refused() -> None:
    with pytest.raises(UnknownEvent):
        read_usage(b"\xff not json")
