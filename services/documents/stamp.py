"""Draw onto rendered pages: the text all cards of a sheet share, and the QR codes.

A card's budget, validity, endpoint and setup lines are the same on all 500 cards, and
WeasyPrint spent most of a card's time laying out those seven lines. So a part's cards are
laid out without them, followed by a "details" page for each card slot (the details of that
slot only); each becomes a PDF form XObject drawn onto every card page that has a card in
that slot, and the details pages are dropped. Still real, copyable text, found by text
extraction. The QR codes are drawing operators from qr.py added to each page (an image per
card cost WeasyPrint 3-5 ms a card).
"""

from __future__ import annotations

import io

from pypdf import PageObject, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
)


def _add(writer: PdfWriter, stream: DecodedStreamObject) -> IndirectObject:
    # pypdf has no public call to add a free-standing object; streams must be indirect.
    return writer._add_object(stream.flate_encode())


def _stream(writer: PdfWriter, data: bytes) -> IndirectObject:
    stream = DecodedStreamObject()
    stream.set_data(data)
    return _add(writer, stream)


def _form(writer: PdfWriter, page: PageObject) -> IndirectObject:
    """The page's drawing as a form XObject with its own fonts."""
    form = DecodedStreamObject()
    form.set_data(page.get_contents().get_data())  # type: ignore[union-attr]
    form[NameObject("/Type")] = NameObject("/XObject")
    form[NameObject("/Subtype")] = NameObject("/Form")
    form[NameObject("/BBox")] = page.mediabox
    form[NameObject("/Resources")] = page["/Resources"]
    return _add(writer, form)


def _add_forms(page: PageObject, forms: dict[str, IndirectObject]) -> None:
    resources = page["/Resources"].get_object()
    assert isinstance(resources, DictionaryObject), "WeasyPrint pages have resources"
    if "/XObject" not in resources:
        resources[NameObject("/XObject")] = DictionaryObject()
    xobjects = resources["/XObject"].get_object()
    assert isinstance(xobjects, DictionaryObject)
    for name, form in forms.items():
        xobjects[NameObject(name)] = form


def _append(page: PageObject, before: IndirectObject, after: IndirectObject) -> None:
    old = page.raw_get("/Contents")
    streams = list(old.get_object()) if isinstance(old.get_object(), ArrayObject) else [old]
    # q ... Q around the page's own drawing, so ours starts from the default state.
    page[NameObject("/Contents")] = ArrayObject([before, *streams, after])


def stamp_pages(pdf: bytes, drawings: list[bytes], slots: int, per_page: list[int]) -> bytes:
    """``pdf`` with ``drawings[i]`` (PDF operators) drawn on page i. The last ``slots`` pages
    are details pages, one per card slot: the first ``per_page[i]`` of them are drawn on
    page i too, and they are left out of the result."""
    writer = PdfWriter(clone_from=io.BytesIO(pdf))
    details = list(writer.pages)[len(writer.pages) - slots :]
    forms = {f"/AisCardDetails{n}": _form(writer, page) for n, page in enumerate(details)}
    for _ in details:
        # Documented for PdfWriter, though typed as a read-only Sequence.
        del writer.pages[-1]  # type: ignore[attr-defined]
    before = _stream(writer, b"q\n")
    for index, page in enumerate(writer.pages):
        ops = b"\nQ\n" + drawings[index]
        if forms:
            names = list(forms)[: per_page[index]]
            _add_forms(page, {name: forms[name] for name in names})
            ops += b"".join(f"q {name} Do Q\n".encode() for name in names)
        _append(page, before, _stream(writer, ops))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
