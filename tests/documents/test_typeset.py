"""Cards whose own lines are written into a laid-out card (typeset.py), and those that are not."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from contracts.documents import KeySheetRequest
from services.documents.adapters import render
from services.documents.adapters.pdftext import TypesetError
from services.documents.adapters.render import Renderer
from services.documents.adapters.typeset import CardLines, typesettable
from services.documents.domain.parsing import DocumentKind
from tests.documents.helpers import page_texts, sheet_request

# Typeset (plain, long, with a detail) and laid out whole (CJK, a combining accent), mixed
# on one page and across pages, so both kinds share slots.
NAMES = [
    ("Finn Griffioen", None),
    ("王小明", None),
    ("Sara Jansen", "born 2011"),
    ("Sara Jansen", "born 2012"),
    ("Maximiliaan Alexander von Habsburg", None),
    ("Jose\u0301 García", None),
    ("Zoë Øberg", None),
    ("Ελένη Παπαδοπούλου", None),
    ("Анна Иванова", None),
]


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def mixed_request() -> KeySheetRequest:
    request = sheet_request(len(NAMES))
    cards = tuple(
        card.model_copy(update={"name": name, "detail": detail})
        for card, (name, detail) in zip(request.cards, NAMES, strict=True)
    )
    return request.model_copy(update={"cards": cards})


def test_only_scripts_drawn_one_glyph_a_character_are_typeset() -> None:
    assert typesettable("Zoë Øberg-Ĳssel · 3/28") and typesettable("Ελένη Анна")
    assert not typesettable("王小明")
    assert not typesettable("Jose\u0301")  # a combining accent needs shaping
    assert not typesettable("وفاء")  # right to left, joined


def test_typeset_and_whole_cards_each_show_their_own_lines(renderer: Renderer) -> None:
    request = mixed_request()
    pages = page_texts(renderer.pdf(request, DocumentKind.SHEET))
    for card in request.cards:
        [page] = [page for page in pages if card.key in page]
        assert card.name in page
        if card.detail:
            assert f"({card.detail})" in page
        assert f"· {request.cards.index(card) + 1}/{len(request.cards)}" in page


def _words(pdf: bytes, tmp_path: Path) -> list[tuple[str, float, float]]:
    """Each word pdftotext finds, with its top-left corner in points."""
    (tmp_path / "sheet.pdf").write_bytes(pdf)
    found = subprocess.run(
        ["pdftotext", "-bbox", "sheet.pdf", "-"], cwd=tmp_path, check=True, capture_output=True
    ).stdout.decode()
    pattern = r'<word xMin="([\d.]+)" yMin="([\d.]+)"[^>]*>([^<]*)<'
    return [(word, float(x), float(y)) for x, y, word in re.findall(pattern, found)]


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils (Debian)")
def test_typeset_lines_land_where_weasyprint_lays_them_out(
    renderer: Renderer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every word of every card where it is when every card is laid out whole: the same
    words in the same order, each within 2 points (typeset text forms no ligatures, so
    the rest of a line after "Griffioen" starts 1.3 points further right)."""
    request = mixed_request()
    typeset = _words(renderer.pdf(request, DocumentKind.SHEET), tmp_path)
    monkeypatch.setattr(render, "can_typeset", lambda card: False)
    whole = _words(renderer.pdf(request, DocumentKind.SHEET), tmp_path)
    assert [word for word, *_ in typeset] == [word for word, *_ in whole]
    assert len(typeset) > 50 * len(NAMES)
    moved = [
        (a, b)
        for a, b in zip(typeset, whole, strict=True)
        if abs(a[1] - b[1]) > 2 or abs(a[2] - b[2]) > 2
    ]
    assert moved == []


@pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("zbarimg") is None,
    reason="needs poppler-utils and zbar-tools (Debian) to read the QR codes back",
)
def test_the_qr_codes_of_typeset_and_whole_cards_read_back(
    renderer: Renderer, tmp_path: Path
) -> None:
    request = mixed_request()
    (tmp_path / "sheet.pdf").write_bytes(renderer.pdf(request, DocumentKind.SHEET))
    subprocess.run(["pdftoppm", "-r", "150", "-png", "sheet.pdf", "page"], cwd=tmp_path, check=True)
    found = []
    for image in sorted(tmp_path.glob("page-*.png")):
        args = ["zbarimg", "-q", "--raw", str(image)]
        found += subprocess.run(args, check=False, capture_output=True, text=True).stdout.split()
    assert sorted(found) == sorted(card.key for card in request.cards)


def test_a_part_whose_probe_fails_is_laid_out_whole(
    renderer: Renderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = CardLines.read
    calls = []

    def failing_once(*args: object) -> object:
        calls.append(args)
        if len(calls) == 1:
            raise TypesetError("as if a character had come out in another font")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(CardLines, "read", failing_once)
    request = sheet_request(6)
    pages = page_texts(renderer.pdf(request, DocumentKind.SHEET))
    assert len(calls) == 1  # the failed probe; then the part is laid out whole
    for card in request.cards:
        [page] = [page for page in pages if card.key in page]
        assert card.name in page
