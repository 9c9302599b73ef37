"""HTML from the Jinja2 templates, PDF from the HTML with WeasyPrint; nothing touches disk."""

from __future__ import annotations

import io
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pypdf import PdfReader, PdfWriter
from weasyprint import HTML, Document, Page
from weasyprint.urls import URLFetcher

from contracts.documents import KeySheetRequest
from services.documents.parsing import DocumentKind
from services.documents.parts import CARDS_PER_PAGE, Part, cards_on_pages, plan_parts
from services.documents.qr import CSS_PX, qr_drawing
from services.documents.stamp import stamp_pages
from services.documents.texts import load_texts
from services.documents.view import part_view

TEMPLATES_DIR = Path(__file__).parent / "templates"
_TEMPLATES = {DocumentKind.SHEET: "key_sheet.html.j2", DocumentKind.LETTER: "key_letter.html.j2"}


def _fetch_nothing() -> URLFetcher:
    # Everything a document needs is in its HTML; refusing every URL means nothing in a
    # request can make the renderer read a file or call out. (fail_on_errors would raise a
    # BaseException through our handler; a refused URL is skipped with a warning instead.)
    return URLFetcher(allowed_protocols=set(), fail_on_errors=False)


def parts_of(request: KeySheetRequest, kind: DocumentKind) -> list[Part]:
    """The parts a document renders in: a letter is one, a sheet is its cover then its cards."""
    if kind is DocumentKind.LETTER:
        return [Part(cover=False, cards=range(len(request.cards)))]
    return plan_parts(len(request.cards), with_cover=True)


def join_pdfs(parts: list[bytes]) -> bytes:
    """One PDF with the pages of ``parts`` in order (in memory)."""
    if len(parts) == 1:
        return parts[0]
    writer = PdfWriter()
    # Page by page: append() also merges outlines and forms, which we have none of, and
    # took half as long again.
    for part in parts:
        for page in PdfReader(io.BytesIO(part)).pages:
            writer.add_page(page)
    writer.add_metadata(PdfReader(io.BytesIO(parts[0])).metadata or {})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


class Renderer:
    """Renders key sheets and letters; keeps nothing but its templates and texts."""

    def __init__(self, templates_dir: Path = TEMPLATES_DIR) -> None:
        self._env = Environment(
            loader=FileSystemLoader(templates_dir),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._texts = load_texts()

    def _document(
        self,
        request: KeySheetRequest,
        kind: DocumentKind,
        *,
        cover: bool = False,
        cards: range = range(0),
        ghosts: int = 0,
    ) -> Document:
        t = self._texts[request.language]
        view = part_view(request, t, cover=cover, cards=cards, ghosts=ghosts)
        html = self._env.get_template(_TEMPLATES[kind]).render(v=view)
        return HTML(string=html, url_fetcher=_fetch_nothing()).render()

    def _cards(self, request: KeySheetRequest, kind: DocumentKind, cards: range) -> bytes:
        """The cards, with (on a sheet) their shared details and their QR codes stamped on."""
        if kind is DocumentKind.LETTER:
            letter = self._document(request, kind, cards=cards)
            drawings = [_qr_codes(page, request) for page in letter.pages]
            return stamp_pages(letter.write_pdf(), drawings, 0, [])
        # A sheet's cards are laid out without the details they all share, then a page of
        # details for each card slot, stamped on and dropped (see stamp.py): half the time.
        document = self._document(request, kind, cards=cards, ghosts=CARDS_PER_PAGE)
        card_pages = document.pages[:-CARDS_PER_PAGE]
        drawings = [_qr_codes(page, request) for page in card_pages]
        per_page = cards_on_pages(len(cards))
        return stamp_pages(document.write_pdf(), drawings, CARDS_PER_PAGE, per_page)

    def part_pdf(self, request: KeySheetRequest, kind: DocumentKind, part: Part) -> bytes:
        """One part as PDF bytes (A4); CPU-bound, so callers run it off the event loop."""
        if part.cover:
            pdf: bytes = self._document(request, kind, cover=True).write_pdf()
            return pdf
        return self._cards(request, kind, part.cards)

    def pdf(self, request: KeySheetRequest, kind: DocumentKind) -> bytes:
        """The whole document, its parts rendered one after another in this thread."""
        return join_pdfs([self.part_pdf(request, kind, p) for p in parts_of(request, kind)])


def _qr_codes(page: Page, request: KeySheetRequest) -> bytes:
    """Drawing operators for the QR code of each card on ``page``, found by its box's id."""
    height_pt = page.height * CSS_PX
    return b"".join(
        qr_drawing(request.cards[int(anchor[3:]) - 1].key, x, y, height_pt)
        for anchor, (x, y, *_) in page.anchors.items()
        if anchor.startswith("qr-")
    )
