"""What WeasyPrint drew on a page: its text runs and the glyphs of its embedded fonts.

Read with pypdf's public content-stream parser; used by typeset.py to find where a probe
card's lines are and to write other text in the same fonts (WeasyPrint embeds each font
once per document, with glyph ids kept, a ToUnicode map and a width for every glyph used).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, replace
from typing import TypeVar

from pypdf import PageObject
from pypdf.generic import (
    ArrayObject,
    ByteStringObject,
    ContentStream,
    DictionaryObject,
    IndirectObject,
    StreamObject,
    TextStringObject,
)

_MAPPING = re.compile(rb"<([0-9a-fA-F]{4})>\s*<([0-9a-fA-F]+)>")
Matrix = tuple[float, float, float, float, float, float]
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
# The TJ adjustment between two glyphs (thousandths of the font size; positive moves the
# second one left), as WeasyPrint wrote it from HarfBuzz's shaping: kerning.
Kerning = dict[tuple[int, int], float]
_T = TypeVar("_T")


class TypesetError(ValueError):
    """A page did not come out as expected (a character without its own glyph, say)."""


@dataclass(frozen=True)
class Run:
    """One line of text as WeasyPrint drew it: font, size, colour, place, clip."""

    text: str
    font: str
    size: float
    matrix: Matrix  # the text matrix (Tm), translation included
    ctm: Matrix
    colour: tuple[float, ...]
    clip: tuple[float, ...] | None
    advance: float  # from the x of the text matrix to where the next glyph would start
    kerning: Kerning


def _resolved(value: object, kind: type[_T]) -> _T:
    """``value`` (or the object it refers to) as a ``kind``, or a TypesetError."""
    found = value.get_object() if isinstance(value, IndirectObject) else value
    if not isinstance(found, kind):
        raise TypesetError(f"expected a {kind.__name__} in WeasyPrint's PDF")
    return found


class Glyphs:
    """Characters to glyph ids and widths, from one embedded font's ToUnicode map and /W."""

    def __init__(self, font: DictionaryObject) -> None:
        if font.get("/Encoding") != "/Identity-H":
            raise TypesetError("not an Identity-H font")
        self.chars: dict[str, int] = {}
        self.text: dict[int, str] = {}
        for gid, text in _MAPPING.findall(_resolved(font["/ToUnicode"], StreamObject).get_data()):
            char = bytes.fromhex(text.decode()).decode("utf-16-be")
            self.text[int(gid, 16)] = char
            if len(char) == 1:
                self.chars.setdefault(char, int(gid, 16))
        self.widths: dict[int, float] = {}
        descendant = _resolved(
            _resolved(font["/DescendantFonts"], ArrayObject)[0], DictionaryObject
        )
        widths = _resolved(descendant["/W"], ArrayObject)
        for start, run in zip(widths[::2], widths[1::2], strict=True):
            for offset, width in enumerate(run):
                self.widths[int(start) + offset] = float(width)

    def decode(self, shown: object) -> tuple[str, float, Kerning]:
        """The text of a Tj/TJ operand, its advance in thousandths of the font size, and the
        adjustment (kerning) between each two of its glyphs."""
        items = list(shown) if isinstance(shown, ArrayObject) else [shown]
        gids: list[int] = []
        kerning: Kerning = {}
        pending, advance = 0.0, 0.0
        for item in items:
            if not isinstance(item, TextStringObject | ByteStringObject):
                pending += float(item)  # type: ignore[arg-type]
                continue
            raw = item.original_bytes if isinstance(item, TextStringObject) else bytes(item)
            for i in range(0, len(raw), 2):
                gid = int.from_bytes(raw[i : i + 2], "big")
                if gids:
                    kerning.setdefault((gids[-1], gid), pending)
                advance += self.widths.get(gid, 0.0) - pending
                gids.append(gid)
                pending = 0.0
        text = "".join(self.text.get(g, "\ufffd") for g in gids)
        return text, advance - pending, kerning

    def encode(self, text: str, kerning: Kerning) -> tuple[bytes, float]:
        """A TJ operand showing ``text``, kerned as in ``kerning``, and its width in
        thousandths of the font size."""
        try:
            gids = [self.chars[char] for char in text]
        except KeyError as exc:
            raise TypesetError("a character has no glyph of its own") from exc
        shown, width = [b"[<"], sum(self.widths[g] for g in gids)
        for gid, after in itertools.zip_longest(gids, gids[1:]):
            shown.append(b"%04x" % gid)
            adjust = kerning.get((gid, after), 0.0) if after is not None else 0.0
            if adjust:
                shown.append(b"> %s <" % f"{adjust:g}".encode())
                width -= adjust
        shown.append(b">]")
        return b"".join(shown), width


def page_glyphs(page: PageObject) -> dict[str, Glyphs]:
    """Every font of the page by its resource name."""
    resources = _resolved(page["/Resources"], DictionaryObject)
    found: dict[str, Glyphs] = {}
    for name, font in _resolved(resources["/Font"], DictionaryObject).items():
        try:
            found[name] = Glyphs(_resolved(font, DictionaryObject))
        except TypesetError:
            continue
    return found


def _multiply(m: Matrix, n: Matrix) -> Matrix:
    a, b, c, d, e, f = m
    p, q, r, s, t, u = n
    return (
        a * p + b * r,
        a * q + b * s,
        c * p + d * r,
        c * q + d * s,
        e * p + f * r + t,
        e * q + f * s + u,
    )


def _numbers(operands: list[object]) -> tuple[float, ...]:
    return tuple(float(x) for x in operands)  # type: ignore[arg-type]


@dataclass
class _State:
    """The graphics state a run is drawn in, as far as text runs care."""

    ctm: Matrix = IDENTITY
    colour: tuple[float, ...] = (0.0, 0.0, 0.0)
    rect: tuple[float, ...] | None = None
    clip: tuple[float, ...] | None = None


def read_runs(page: PageObject, glyphs: dict[str, Glyphs]) -> list[Run]:
    """The text runs WeasyPrint drew on ``page``, in drawing order."""
    runs: list[Run] = []
    state, saved = _State(), list[_State]()
    font, size, matrix = "", 0.0, IDENTITY
    for operands, op in ContentStream(page.get_contents(), page.pdf).operations:
        if op == b"q":
            saved.append(replace(state))
        elif op == b"Q":
            state = saved.pop()
        elif op == b"cm":
            state.ctm = _multiply(_numbers(operands), state.ctm)  # type: ignore[arg-type]
        elif op == b"rg":
            state.colour = _numbers(operands)
        elif op == b"re":
            state.rect = _numbers(operands)
        elif op == b"W":
            state.clip = state.rect
        elif op == b"Tf":
            font, size = str(operands[0]), float(operands[1])
        elif op == b"Tm":
            matrix = _numbers(operands)  # type: ignore[assignment]
        elif op in (b"TJ", b"Tj"):
            if font not in glyphs:
                raise TypesetError("text in a font that is not Identity-H")
            text, advance, kerning = glyphs[font].decode(operands[0])
            runs.append(
                Run(
                    text,
                    font,
                    size,
                    matrix,
                    state.ctm,
                    state.colour,
                    state.clip,
                    advance * size / 1000,
                    kerning,
                )
            )
    return runs
