"""Turn a request's bytes into a ``KeySheetRequest``, or an error message that holds no key."""

from __future__ import annotations

from enum import StrEnum

from pydantic import ValidationError

from contracts.apikeys import is_well_formed, key_hint
from contracts.documents import KeySheetRequest
from services.documents.domain.view import school_zone
from services.documents.errors import DocumentsError

# A 1000-card sheet is about 2 MB, well inside the 8 MB NATS payload the reply must fit in;
# names are shortened for print (view.py), so this only turns away nonsense.
MAX_CARDS = 1000
MAX_NAME_LENGTH = 200
MAX_DETAIL_LENGTH = 100


class DocumentKind(StrEnum):
    """What the caller asked for: a group's sheet or one staff member's letter."""

    SHEET = "key_sheet"
    LETTER = "key_letter"


def _describe(error: ValidationError) -> str:
    # include_input=False: pydantic's default message repeats the input, which may be a key.
    parts = []
    for item in error.errors(include_input=False, include_url=False, include_context=False):
        where = ".".join(str(part) for part in item["loc"]) or "request"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def _check_cards(request: KeySheetRequest) -> None:
    for index, card in enumerate(request.cards):
        if not is_well_formed(card.key):
            raise DocumentsError(f"cards.{index}.key: not a well-formed API key")
        if card.key_hint != key_hint(card.key):
            raise DocumentsError(f"cards.{index}.key_hint: does not match the key")
        if not card.name.strip() or len(card.name) > MAX_NAME_LENGTH:
            raise DocumentsError(f"cards.{index}.name: 1 to {MAX_NAME_LENGTH} characters")
        if card.detail is not None and not 0 < len(card.detail) <= MAX_DETAIL_LENGTH:
            raise DocumentsError(f"cards.{index}.detail: 1 to {MAX_DETAIL_LENGTH} characters")


def _check_kind(request: KeySheetRequest, kind: DocumentKind) -> None:
    if len(request.cards) > MAX_CARDS:
        raise DocumentsError(f"cards: at most {MAX_CARDS} per sheet, got {len(request.cards)}")
    if kind is DocumentKind.LETTER and len(request.cards) != 1:
        raise DocumentsError(f"cards: a key letter has exactly 1 card, got {len(request.cards)}")
    if kind is DocumentKind.SHEET and not request.group_name:
        raise DocumentsError("group_name: a key sheet needs the group's name")


def _check_facts(request: KeySheetRequest) -> None:
    school_zone(request.time_zone)
    if request.budget_micro_usd < 0:
        raise DocumentsError("budget_micro_usd: must not be negative")
    if not request.base_url.startswith(("http://", "https://")):
        raise DocumentsError("base_url: must start with http:// or https://")
    if request.model is not None and (
        not request.model or not request.model.isprintable() or " " in request.model
    ):
        raise DocumentsError("model: must be a model name without spaces")
    if request.valid_from and request.valid_until and request.valid_until <= request.valid_from:
        raise DocumentsError("valid_until: must be after valid_from")


def parse_request(data: bytes, kind: DocumentKind) -> KeySheetRequest:
    """A validated request for ``kind``; raises ``DocumentsError`` with a precise message."""
    try:
        request = KeySheetRequest.model_validate_json(data)
    except ValidationError as exc:
        raise DocumentsError(_describe(exc)) from None
    _check_kind(request, kind)
    _check_facts(request)
    _check_cards(request)
    return request
