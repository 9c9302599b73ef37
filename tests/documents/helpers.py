"""Requests and PDF text for the documents tests."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from pypdf import PdfReader

from contracts.apikeys import generate_key, key_hint
from contracts.documents import KeyCard, KeySheetRequest
from contracts.events import Renewal


def cards(count: int) -> tuple[KeyCard, ...]:
    """``count`` cards with fresh, well-formed keys and distinct names."""
    made = []
    for index in range(count):
        key = generate_key()
        made.append(
            KeyCard(name=f"Leerling {index + 1:03d} de Vries", key=key, key_hint=key_hint(key))
        )
    return tuple(made)


def sheet_request(count: int = 3, **changes: Any) -> KeySheetRequest:
    """A group sheet request for a Dutch school, English unless ``language`` says otherwise."""
    fields: dict[str, Any] = {
        "school_name": "Het Baken College",
        "time_zone": "Europe/Amsterdam",
        "group_name": "4 VWO b",
        "issued_at": datetime(2026, 9, 1, 7, 30, tzinfo=UTC),
        "budget_micro_usd": 12_500_000,
        "renewal": Renewal.WEEKLY,
        "valid_from": datetime(2026, 8, 31, 22, 0, tzinfo=UTC),
        "valid_until": datetime(2027, 7, 16, 21, 59, tzinfo=UTC),
        "base_url": "https://coding.hetbaken.nl/v1",
        "cards": cards(count),
    }
    fields.update(changes)
    return KeySheetRequest(**fields)


def letter_request(**changes: Any) -> KeySheetRequest:
    """A staff member's single-key letter."""
    return sheet_request(1, group_name=None, **changes)


def page_texts(pdf: bytes) -> list[str]:
    """The extracted text of each page."""
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]
