"""How a sheet is cut into parts and pages, and how a QR code becomes rectangles."""

from __future__ import annotations

from services.documents.domain.parts import Part, plan_parts
from services.documents.domain.qr import dark_runs


def test_a_sheet_is_its_cover_then_whole_runs_of_cards() -> None:
    assert plan_parts(100, with_cover=True, per_part=48) == [
        Part(cover=True, cards=range(0)),
        Part(cover=False, cards=range(0, 48)),
        Part(cover=False, cards=range(48, 96)),
        Part(cover=False, cards=range(96, 100)),
    ]


def test_dark_modules_are_drawn_as_runs() -> None:
    assert dark_runs(bytearray([1, 1, 0, 1, 0, 0, 1])) == [(0, 2), (3, 1), (6, 1)]
