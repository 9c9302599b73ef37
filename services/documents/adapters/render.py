"""HTML from the Jinja2 templates, PDF from the HTML with WeasyPrint; nothing touches disk."""

from __future__ import annotations

import io
from dataclasses import astuple, dataclass, replace
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pypdf import PdfReader, PdfWriter
from weasyprint import HTML, Document, Page
from weasyprint.urls import URLFetcher

from contracts.documents import KeySheetRequest
from services.documents.adapters.pdftext import Glyphs, TypesetError, page_glyphs, read_runs
from services.documents.adapters.stamp import NewPage, draw_on_pages, replace_pages
from services.documents.adapters.typeset import (
    CardLines,
    Layout,
    can_typeset,
    card_ops,
    layout_of,
    probe_card,
)
from services.documents.domain.parsing import DocumentKind
from services.documents.domain.parts import CARDS_PER_PAGE, Part, plan_parts
from services.documents.domain.qr import CSS_PX, qr_drawing
from services.documents.domain.texts import load_texts
from services.documents.domain.view import CardView, SheetView, part_view

TEMPLATES_DIR = Path(__file__).parents[1] / "templates"
_TEMPLATES = {DocumentKind.SHEET: "key_sheet.html.j2", DocumentKind.LETTER: "key_letter.html.j2"}
# Numbers of the probe cards (only their QR boxes' ids show them), apart from real cards'.
_PROBE_NUMBERS = 1_000_000


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


@dataclass(frozen=True)
class _Template:
    """A template page of a card part: its form, where its QR box is, the lines to write."""

    page: int
    qr: tuple[float, ...]  # CSS px (x, y first) from the page's top-left corner, card at the top
    lines: CardLines | None  # None: the card is laid out whole, its lines are in the form


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

    def _document(self, kind: DocumentKind, view: SheetView) -> Document:
        html = self._env.get_template(_TEMPLATES[kind]).render(v=view)
        return HTML(string=html, url_fetcher=_fetch_nothing()).render()

    def _view(self, request: KeySheetRequest, *, cover: bool, cards: range) -> SheetView:
        return part_view(request, self._texts[request.language], cover=cover, cards=cards)

    def _letter(self, request: KeySheetRequest, cards: range) -> bytes:
        view = self._view(request, cover=False, cards=cards)
        letter = self._document(DocumentKind.LETTER, view)
        drawings = [_qr_codes(page, request) for page in letter.pages]
        return draw_on_pages(letter.write_pdf(), drawings)

    def _cards(self, request: KeySheetRequest, cards: range) -> bytes:
        """A run of a sheet's cards: typeset where they can be, laid out whole where not."""
        view = self._view(request, cover=False, cards=cards)
        try:
            return self._card_pages(view, [c for c in view.cards if can_typeset(c)])
        except TypesetError:
            # A character came out in another font or without a glyph of its own: every
            # card of this part is laid out whole, as WeasyPrint shapes it.
            return self._card_pages(view, [])

    def _card_pages(self, view: SheetView, typeset: list[CardView]) -> bytes:
        layouts = sorted({layout_of(c) for c in typeset}, key=astuple)
        # One set of probes at least: they also measure the distance between cards.
        probed = layouts or [Layout(long_name=False, detail=False)]
        probes = tuple(_probes(index, layout, typeset) for index, layout in enumerate(probed))
        numbers = {c.number for c in typeset}
        whole = tuple(c for c in view.cards if c.number not in numbers)
        document = self._document(DocumentKind.SHEET, replace(view, probes=probes, cards=whole))
        writer = PdfWriter(clone_from=io.BytesIO(document.write_pdf()))
        glyphs = page_glyphs(writer.pages[0])
        # Lines are read only for layouts that cards are typeset in (none when falling back).
        read = dict(zip(layouts, probes[: len(layouts)], strict=True))
        templates = _templates(document, writer, glyphs, read)
        for page, card in enumerate(whole, start=2 * len(probes)):
            qr = document.pages[page].anchors[f"qr-{card.number}"]
            templates[card.number] = _Template(page, qr, None)
        order = sorted(templates.values(), key=lambda t: t.page)
        first_qr, second_qr = (document.pages[1].anchors[f"qr-{p.number}"] for p in probes[0][1:])
        pitch = second_qr[1] - first_qr[1]
        height_pt = document.pages[0].height * CSS_PX
        pages = []
        for start in range(0, len(view.cards), CARDS_PER_PAGE):
            ops, forms = [], []
            for slot, card in enumerate(view.cards[start : start + CARDS_PER_PAGE]):
                template = templates[layout_of(card) if card.number in numbers else card.number]
                dy = slot * pitch
                if template.lines is not None:
                    ops.append(card_ops(card, template.lines, glyphs, dy))
                x, y = template.qr[:2]
                ops.append(qr_drawing(card.key, x, y + dy, height_pt))
                forms.append((order.index(template), dy * CSS_PX))
            pages.append(NewPage(b"".join(ops), tuple(forms)))
        return replace_pages(writer, [t.page for t in order], pages)

    def part_pdf(self, request: KeySheetRequest, kind: DocumentKind, part: Part) -> bytes:
        """One part as PDF bytes (A4); CPU-bound, so callers run it off the event loop."""
        if kind is DocumentKind.LETTER:
            return self._letter(request, part.cards)
        if part.cover:
            pdf: bytes = self._document(
                kind, self._view(request, cover=True, cards=range(0))
            ).write_pdf()
            return pdf
        return self._cards(request, part.cards)

    def pdf(self, request: KeySheetRequest, kind: DocumentKind) -> bytes:
        """The whole document, its parts rendered one after another in this thread."""
        return join_pdfs([self.part_pdf(request, kind, p) for p in parts_of(request, kind)])


def _templates(
    document: Document,
    writer: PdfWriter,
    glyphs: dict[str, Glyphs],
    probes: dict[Layout, tuple[CardView, CardView, CardView]],
) -> dict[object, _Template]:
    """Per layout, its blank card's page and QR box and the lines read from its probe page
    (the pages come in that order, two per layout, in the order of ``probes``)."""
    templates: dict[object, _Template] = {}
    for index, (layout, (blank, first, _)) in enumerate(probes.items()):
        runs = read_runs(writer.pages[2 * index + 1], glyphs)
        qr = document.pages[2 * index].anchors[f"qr-{blank.number}"]
        templates[layout] = _Template(2 * index, qr, CardLines.read(runs, first))
    return templates


def _probes(
    index: int, layout: Layout, cards: list[CardView]
) -> tuple[CardView, CardView, CardView]:
    """The blank card, the probe card and a card below it, in ``layout``, numbered apart from
    real cards. Only the probe carries every character: the blank card's lines are hidden,
    and the card below only shows where the next card starts (the lines of all three are one
    line each, of fixed height, so what they hold moves nothing else on the card)."""
    number = _PROBE_NUMBERS + 3 * index
    short = probe_card(number, layout, [])
    return short, probe_card(number + 1, layout, cards), replace(short, number=number + 2)


def _qr_codes(page: Page, request: KeySheetRequest) -> bytes:
    """Drawing operators for the QR code of each card on ``page``, found by its box's id."""
    height_pt = page.height * CSS_PX
    return b"".join(
        qr_drawing(request.cards[int(anchor[3:]) - 1].key, x, y, height_pt)
        for anchor, (x, y, *_) in page.anchors.items()
        if anchor.startswith("qr-")
    )
