"""What a rendered key sheet or letter says, read back from the PDF with pypdf."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.documents import KeySheetRequest
from services.documents.adapters.render import Renderer
from services.documents.domain.parsing import DocumentKind
from services.documents.domain.parts import CARDS_PER_PART
from services.documents.domain.setup import setup_columns
from tests.documents.helpers import letter_request, page_texts, sheet_request

SETUP_TAIL = "opencode -m aischool/"  # the last line of every card


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


@pytest.fixture(scope="module")
def big_sheet(renderer: Renderer) -> tuple[KeySheetRequest, list[str]]:
    """A sheet with more cards than one part holds, so the joined parts are checked too."""
    request = sheet_request(CARDS_PER_PART + 13)
    return request, page_texts(renderer.pdf(request, DocumentKind.SHEET))


def test_every_key_is_printed_exactly_once(big_sheet: tuple[KeySheetRequest, list[str]]) -> None:
    request, pages = big_sheet
    text = "".join(pages)
    for card in request.cards:
        assert text.count(card.key) == 1


def test_each_key_is_on_the_same_page_as_its_name(
    big_sheet: tuple[KeySheetRequest, list[str]],
) -> None:
    request, pages = big_sheet
    for card in request.cards:
        [page] = [page for page in pages if card.key in page]
        assert card.name in page


def test_no_card_is_split_across_pages(big_sheet: tuple[KeySheetRequest, list[str]]) -> None:
    request, pages = big_sheet
    card_pages = [page for page in pages if SETUP_TAIL in page]
    assert len(card_pages) == -(-len(request.cards) // 4)  # four whole cards a page
    for page in card_pages:
        keys_here = sum(card.key in page for card in request.cards)
        # A card's first line (its key) and last line (the OpenCode line) share its page.
        assert keys_here == page.count(SETUP_TAIL) > 0


def test_the_cover_lists_every_name_with_only_the_key_hint(
    big_sheet: tuple[KeySheetRequest, list[str]],
) -> None:
    request, pages = big_sheet
    cover = "".join(page for page in pages if SETUP_TAIL not in page)
    assert "Het Baken College" in cover and "4 VWO b" in cover and "$12.50" in cover
    assert f"Number of keys {len(request.cards)}" in cover
    for card in request.cards:
        assert card.name in cover and card.key_hint in cover
        assert card.key not in cover


def test_validity_is_shown_in_the_school_time_zone(renderer: Renderer) -> None:
    request = sheet_request(1)  # valid from 2026-08-31 22:00 UTC = 1 September 00:00 in NL
    text = "".join(page_texts(renderer.pdf(request, DocumentKind.SHEET)))
    assert "from 1 September 2026 00:00 until 16 July 2027 23:59 (Europe/Amsterdam)" in text
    assert "every week" in text


def test_dutch_and_english_sheets_use_their_own_words(renderer: Renderer) -> None:
    english = "".join(page_texts(renderer.pdf(sheet_request(1), DocumentKind.SHEET)))
    dutch_request = sheet_request(1, language="nl")
    dutch = "".join(page_texts(renderer.pdf(dutch_request, DocumentKind.SHEET)))
    assert "Number of keys" in english and "Aantal sleutels" not in english
    assert "Aantal sleutels" in dutch and "Number of keys" not in dutch
    assert "vanaf 1 september 2026 00:00 tot 16 juli 2027 23:59" in dutch
    assert "elke week" in dutch
    assert dutch.count(dutch_request.cards[0].key) == 1


def test_a_letter_shows_one_key_and_no_roster(renderer: Renderer) -> None:
    request = letter_request(model="demo")
    [page] = page_texts(renderer.pdf(request, DocumentKind.LETTER))
    card = request.cards[0]
    assert page.count(card.key) == 1
    assert card.name in page and "Your API key" in page
    assert "Who gets which key" not in page
    assert "export OPENAI_API_BASE=https://coding.hetbaken.nl/v1" in page
    assert "aider --model openai/demo" in page
    assert "curl -so oc.json $OPENAI_API_BASE/opencode.json" in page
    assert "OPENCODE_CONFIG=oc.json opencode -m aischool/demo" in page
    assert "export ANTHROPIC_BASE_URL=${OPENAI_API_BASE%/v1}" in page
    assert "claude --model demo" in page and "CODEX_HOME=~/.aischool codex -m demo" in page
    lines = [line for column in setup_columns(request.base_url, "demo") for line in column]
    assert [line for line in lines if line not in page] == []  # every line, whole


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils (Debian)")
def test_a_long_endpoint_makes_the_setup_lines_no_taller(
    renderer: Renderer, tmp_path: Path
) -> None:
    """Only the left column names the URL and wraps; the right one sets the height."""

    def last_lines(base_url: str) -> list[float]:
        request = sheet_request(2, base_url=base_url, model="qwen2.5-coder-32b")
        (tmp_path / "sheet.pdf").write_bytes(renderer.pdf(request, DocumentKind.SHEET))
        words = subprocess.run(
            ["pdftotext", "-bbox", "sheet.pdf", "-"], cwd=tmp_path, check=True, capture_output=True
        ).stdout.decode()
        keys = [float(y) for y in re.findall(r'yMin="([\d.]+)"[^>]*>sk-ais-\w{42}<', words)]
        ends = {
            word: [float(y) for y in re.findall(rf'yMax="([\d.]+)">{re.escape(word)}<', words)]
            for word in ("OPENCODE_CONFIG=oc.json", "CODEX_HOME=~/.aischool")
        }
        assert len(keys) == 2 and all(len(bottoms) == 2 for bottoms in ends.values())
        return [
            end - key for bottoms in ends.values() for key, end in zip(keys, bottoms, strict=True)
        ]

    short = last_lines("https://coding.hetbaken.nl/v1")
    long = last_lines("https://coding.sint-bonifatiuscollege-utrecht.nl/v1")
    assert max(long) <= max(short) + 0.5


def test_a_sheet_without_validity_says_so(renderer: Renderer) -> None:
    request = sheet_request(1, valid_from=None, valid_until=None)
    text = "".join(page_texts(renderer.pdf(request, DocumentKind.SHEET)))
    assert "no time limit" in text


def test_markup_in_names_is_printed_as_text(renderer: Renderer) -> None:
    request = sheet_request(1, school_name='<img src="file:///etc/passwd"> & Co')
    text = "".join(page_texts(renderer.pdf(request, DocumentKind.SHEET)))
    assert '<img src="file:///etc/passwd"> & Co' in text


def test_rendering_writes_no_file(
    renderer: Renderer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    renderer.pdf(sheet_request(2), DocumentKind.SHEET)
    assert os.listdir(tmp_path) == []


def test_the_issue_date_is_the_school_local_date(renderer: Renderer) -> None:
    late = datetime(2026, 9, 1, 22, 30, tzinfo=UTC)  # already 2 September in Amsterdam
    text = "".join(page_texts(renderer.pdf(sheet_request(1, issued_at=late), DocumentKind.SHEET)))
    assert "2 September 2026" in text


@pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("zbarimg") is None,
    reason="needs poppler-utils and zbar-tools (Debian) to read the QR codes back",
)
def test_each_qr_code_reads_back_as_its_card_key(renderer: Renderer, tmp_path: Path) -> None:
    request = sheet_request(5)
    pdf = renderer.pdf(request, DocumentKind.SHEET)
    (tmp_path / "sheet.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", "sheet.pdf", "page"], cwd=tmp_path, check=True)
    found = []
    for image in sorted(tmp_path.glob("page-*.png")):
        # check=False: zbarimg exits 4 on a page without codes (the cover).
        args = ["zbarimg", "-q", "--raw", str(image)]
        scan = subprocess.run(args, check=False, capture_output=True, text=True)
        found += scan.stdout.split()
    assert sorted(found) == sorted(card.key for card in request.cards)


def test_the_renderer_fetches_no_url() -> None:
    from services.documents.adapters.render import _fetch_nothing

    for url in ("file:///etc/hostname", "https://example.org/x.png", "data:text/plain,x"):
        with pytest.raises(ValueError, match="disallowed protocol"):
            _fetch_nothing().fetch(url)


def test_a_very_long_name_is_cut_but_the_key_is_whole(renderer: Renderer) -> None:
    long_name = "Maximiliaan Alexander " * 6  # 132 characters
    request = sheet_request(2)
    cards = (request.cards[0].model_copy(update={"name": long_name}), request.cards[1])
    pages = page_texts(
        renderer.pdf(request.model_copy(update={"cards": cards}), DocumentKind.SHEET)
    )
    card_page = next(page for page in pages if cards[0].key in page)
    assert long_name[:59] + "…" in card_page
    assert "".join(pages).count(cards[0].key) == 1


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils (Debian)")
def test_the_stamped_details_sit_below_each_card_key(renderer: Renderer, tmp_path: Path) -> None:
    """The shared details are drawn from separate pages; they must land in every card."""
    request = sheet_request(10)  # three pages: 4, 4 and 2 cards
    (tmp_path / "sheet.pdf").write_bytes(renderer.pdf(request, DocumentKind.SHEET))
    words = subprocess.run(
        ["pdftotext", "-bbox", "sheet.pdf", "-"], cwd=tmp_path, check=True, capture_output=True
    ).stdout.decode()
    key_tops = [float(y) for y in re.findall(r'yMin="([\d.]+)"[^>]*>sk-ais-\w{42}<', words)]
    budget_tops = [float(y) for y in re.findall(r'yMin="([\d.]+)"[^>]*>Budget:<', words)]
    assert len(key_tops) == len(budget_tops) == 10
    gaps = [budget - key for key, budget in zip(key_tops, budget_tops, strict=True)]
    assert all(abs(gap - gaps[0]) < 0.5 for gap in gaps) and 10 < gaps[0] < 40
