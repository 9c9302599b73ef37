"""Make pages from what WeasyPrint drew: its pages as PDF forms, plus drawing operators.

A card part is rendered by WeasyPrint as a few template pages (typeset.py); each becomes a
PDF form XObject, and the part's real pages are new pages that draw their cards' forms at
the cards' places, with each card's own lines and QR code as operators (typeset.py, qr.py).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from pypdf import PageObject, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    StreamObject,
)


@dataclass(frozen=True)
class NewPage:
    """A page to make: ``ops`` drawn first, then each ``(form, points down)`` in ``forms``."""

    ops: bytes
    forms: tuple[tuple[int, float], ...]


def _add(writer: PdfWriter, stream: StreamObject) -> IndirectObject:
    # pypdf has no public call to add a free-standing object; streams must be indirect.
    return writer._add_object(stream)


def _stream(writer: PdfWriter, data: bytes) -> IndirectObject:
    stream = DecodedStreamObject()
    stream.set_data(data)
    return _add(writer, stream.flate_encode())


def _form(writer: PdfWriter, page: PageObject) -> IndirectObject:
    """The page's drawing as a form XObject with its own resources."""
    contents = page.raw_get("/Contents")
    form = contents.get_object() if isinstance(contents, IndirectObject) else None
    if isinstance(form, StreamObject) and isinstance(contents, IndirectObject):
        # WeasyPrint draws a page in one stream: it becomes the form as it is, still
        # compressed, instead of being decoded and copied.
        reference = contents
    else:
        form = DecodedStreamObject()
        form.set_data(page.get_contents().get_data())  # type: ignore[union-attr]
        reference = _add(writer, form)
    form[NameObject("/Type")] = NameObject("/XObject")
    form[NameObject("/Subtype")] = NameObject("/Form")
    form[NameObject("/BBox")] = page.mediabox
    form[NameObject("/Resources")] = page.raw_get("/Resources")
    return reference


def form_name(index: int) -> str:
    """The resource name of form ``index`` on the new pages."""
    return f"/AisCard{index}"


def replace_pages(writer: PdfWriter, forms: list[int], pages: list[NewPage]) -> bytes:
    """The PDF of ``pages``, whose forms are ``writer``'s pages at the indexes ``forms``;
    ``writer``'s own pages are left out. The new pages have the fonts of its first page."""
    old = list(writer.pages)
    xobjects = DictionaryObject(
        {NameObject(form_name(n)): _form(writer, old[i]) for n, i in enumerate(forms)}
    )
    page_resources = old[0]["/Resources"].get_object()
    assert isinstance(page_resources, DictionaryObject), "WeasyPrint pages have resources"
    fonts = page_resources.raw_get("/Font")
    resources = writer._add_object(
        DictionaryObject({NameObject("/Font"): fonts, NameObject("/XObject"): xobjects})
    )
    width, height = old[0].mediabox.width, old[0].mediabox.height
    for _ in old:
        # Documented for PdfWriter, though typed as a read-only Sequence.
        del writer.pages[-1]  # type: ignore[attr-defined]
    for new in pages:
        page = writer.add_blank_page(width, height)
        page[NameObject("/Resources")] = resources
        draws = "".join(f"q 1 0 0 1 0 {-dy:.4f} cm {form_name(n)} Do Q\n" for n, dy in new.forms)
        page[NameObject("/Contents")] = _stream(writer, new.ops + draws.encode("ascii"))
    return _written(writer)


def draw_on_pages(pdf: bytes, drawings: list[bytes]) -> bytes:
    """``pdf`` with ``drawings[i]`` (PDF operators) drawn on page i, after its own drawing."""
    writer = PdfWriter(clone_from=io.BytesIO(pdf))
    before = _stream(writer, b"q\n")
    for page, drawing in zip(writer.pages, drawings, strict=True):
        old = page.raw_get("/Contents")
        streams = list(old.get_object()) if isinstance(old.get_object(), ArrayObject) else [old]
        # q ... Q around the page's own drawing, so ours starts from the default state.
        after = _stream(writer, b"\nQ\n" + drawing)
        page[NameObject("/Contents")] = ArrayObject([before, *streams, after])
    return _written(writer)


def _written(writer: PdfWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
