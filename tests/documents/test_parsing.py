"""Bad render requests get a precise error that never repeats a key."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contracts.apikeys import generate_key
from services.documents.domain.parsing import DocumentKind, parse_request
from services.documents.errors import DocumentsError
from tests.documents.helpers import letter_request, sheet_request

SHEET = DocumentKind.SHEET


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(sheet_request(2).model_dump_json())
    body.update(changes)
    return body


def _error(data: bytes, kind: DocumentKind = SHEET) -> str:
    with pytest.raises(DocumentsError) as caught:
        parse_request(data, kind)
    return str(caught.value)


def test_a_valid_sheet_request_parses() -> None:
    request = sheet_request(2)
    assert parse_request(request.model_dump_json().encode(), SHEET) == request


def test_invalid_json_is_rejected_with_the_parser_message() -> None:
    assert _error(b"{not json").startswith("request: Invalid JSON")


def test_missing_fields_are_named() -> None:
    body = _body()
    del body["school_name"], body["base_url"]
    assert _error(json.dumps(body).encode()) == (
        "school_name: Field required; base_url: Field required"
    )


def test_zero_cards_are_rejected() -> None:
    message = _error(json.dumps(_body(cards=[])).encode())
    assert message.startswith("cards: Tuple should have at least 1 item")


def test_a_letter_has_exactly_one_card() -> None:
    data = sheet_request(2, group_name=None).model_dump_json().encode()
    assert _error(data, DocumentKind.LETTER) == "cards: a key letter has exactly 1 card, got 2"
    letter = letter_request()
    assert parse_request(letter.model_dump_json().encode(), DocumentKind.LETTER) == letter


def test_a_sheet_needs_a_group_name() -> None:
    data = sheet_request(2, group_name=None).model_dump_json().encode()
    assert _error(data) == "group_name: a key sheet needs the group's name"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"time_zone": "Europe/Atlantis"}, "time_zone: not a known IANA time zone"),
        ({"budget_micro_usd": -1}, "budget_micro_usd: must not be negative"),
        ({"base_url": "ftp://x/v1"}, "base_url: must start with http:// or https://"),
        ({"model": "gpt 4"}, "model: must be a model name without spaces"),
        ({"language": "de"}, "language: Input should be 'en' or 'nl'"),
        ({"renewal": "hourly"}, "renewal: Input should be 'none', 'daily', 'weekly' or 'monthly'"),
        ({"valid_until": "2026-01-01T00:00:00Z"}, "valid_until: must be after valid_from"),
        ({"issued_at": "2026-09-01T07:30:00"}, "issued_at: Input should have timezone info"),
        ({"colour": "blue"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_bad_facts_are_rejected_precisely(changes: dict[str, Any], message: str) -> None:
    assert _error(json.dumps(_body(**changes)).encode()) == message


def test_a_malformed_key_is_rejected_without_repeating_it() -> None:
    body = _body()
    broken = body["cards"][1]["key"][:-1] + "!"
    body["cards"][1]["key"] = broken
    message = _error(json.dumps(body).encode())
    assert message == "cards.1.key: not a well-formed API key"


def test_a_hint_that_does_not_match_its_key_is_rejected() -> None:
    body = _body()
    body["cards"][0]["key_hint"] = "sk-ais-…XXXX"
    assert _error(json.dumps(body).encode()) == "cards.0.key_hint: does not match the key"


def test_a_key_in_the_wrong_field_is_not_echoed() -> None:
    key = generate_key()
    message = _error(json.dumps(_body(budget_micro_usd=key, school_name=[key])).encode())
    assert key not in message
    assert "budget_micro_usd: Input should be a valid integer" in message


def test_empty_and_overlong_names_are_rejected() -> None:
    for name in ("  ", "x" * 201):
        body = _body()
        body["cards"][0]["name"] = name
        assert _error(json.dumps(body).encode()) == "cards.0.name: 1 to 200 characters"


def test_more_than_a_thousand_cards_are_rejected() -> None:
    card = json.loads(sheet_request(1).model_dump_json())["cards"][0]
    data = json.dumps(_body(cards=[card] * 1001)).encode()
    assert _error(data) == "cards: at most 1000 per sheet, got 1001"


def test_a_card_detail_that_is_empty_or_too_long_is_rejected() -> None:
    for detail, index in (("", 0), ("x" * 101, 1)):
        body = _body()
        body["cards"][index]["detail"] = detail
        assert _error(json.dumps(body).encode()) == f"cards.{index}.detail: 1 to 100 characters"
