"""A card's own text drawn straight into a laid-out card, without WeasyPrint laying it out.

WeasyPrint spent most of a sheet's time laying out and drawing each card's name, line of
school and group, and key: two lines that differ from card to card only in their text. So a
part renders, per distinct layout (a long name or not, a detail beside the name or not), one
card with these lines hidden (its frame, key box and shared details become a PDF form drawn
at every card of that layout) and one "probe" card that shows them, filled with every
character the part's cards need. From the probe we read where WeasyPrint put each line
(position, font, size, colour, clip) and, from the fonts it embedded, each character's glyph
and width; each card's lines are then written as PDF text at those places. It is real text:
the glyphs map back to characters through WeasyPrint's ToUnicode maps, so it copies and
extracts. The text is not shaped or kerned: only characters that need no shaping qualify
(``typesettable``); a card with any other character is laid out whole by WeasyPrint.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from services.documents.adapters.pdftext import Glyphs, Run, TypesetError
from services.documents.domain.view import CardView

# Latin, Greek, Cyrillic (and IPA, Armenian) letters, and general punctuation: scripts whose
# characters are drawn one glyph each, left to right, without shaping.
_SIMPLE_RANGES = ((0x20, 0x7F), (0xA0, 0x590), (0x1E00, 0x2000), (0x2010, 0x2028), (0x2030, 0x205F))


def typesettable(text: str) -> bool:
    """True when every character can be drawn as one glyph, left to right."""
    return all(
        any(low <= ord(char) < high for low, high in _SIMPLE_RANGES)
        and not unicodedata.combining(char)
        and unicodedata.category(char)[0] != "M"
        for char in text
    )


def can_typeset(card: CardView) -> bool:
    """True when the card's own lines can be drawn without WeasyPrint."""
    return all(typesettable(text) for text in (card.name, card.detail, card.sub, card.key))


@dataclass(frozen=True)
class Layout:
    """What changes a card's first line's geometry: the name's size, a detail beside it."""

    long_name: bool
    detail: bool


def layout_of(card: CardView) -> Layout:
    """The layout a card is printed in."""
    return Layout(card.long_name, bool(card.detail))


def _carrier(texts: Iterable[str], *, pairs: bool = True) -> str:
    # Every character, and (with ``pairs``) every two that follow each other in a word, once,
    # spaced apart: WeasyPrint kerns each pair, and the probe shows by how much
    # (pdftext.Kerning). Two digits make sure there is a space between two tokens (a space
    # alone would vanish).
    tokens = {"0", "1"}
    for text in texts:
        for word in text.split():
            tokens.update(word)
            if pairs:
                tokens.update(a + b for a, b in itertools.pairwise(word))
    return " ".join(sorted(tokens))


def probe_card(number: int, layout: Layout, cards: list[CardView]) -> CardView:
    """A card in ``layout`` whose lines hold every character of ``cards``' lines."""
    detail = _carrier(c.detail for c in cards) if layout.detail else ""
    return CardView(
        number,
        name=_carrier(c.name for c in cards),
        # The key's font is monospace, never kerned: its characters are enough, and the
        # pairs of 48 random keys made the probe's key line about 5 000 characters long.
        key=_carrier((c.key for c in cards), pairs=False),
        sub=_carrier(c.sub for c in cards),
        detail=detail,
        long_name=layout.long_name,
    )


@dataclass(frozen=True)
class CardLines:
    """Where a layout's own lines go on a card at the top of a page, read from its probe:
    the key, and the first line's runs (name, detail, school and group) with the gap before
    each run after the first."""

    key: Run
    line: tuple[Run, ...]
    gaps: tuple[float, ...]

    @classmethod
    def read(cls, runs: list[Run], probe: CardView) -> CardLines:
        """The lines of ``probe`` among the ``runs`` of its page (which holds it twice)."""
        texts = (
            [probe.name, f"({probe.detail})", probe.sub]
            if probe.detail
            else [probe.name, probe.sub]
        )
        top = min(run.matrix[5] for run in runs if run.text == probe.key)
        [key] = [run for run in runs if run.text == probe.key and run.matrix[5] == top]
        # The first card's first line: above its key, and the nearest such line.
        above = [run for run in runs if run.matrix[5] < top and run is not key]
        line = sorted(above, key=lambda run: run.matrix[4])
        if [run.text for run in line] != texts:
            raise TypesetError("the probe card's first line did not come out as expected")
        gaps = tuple(
            run.matrix[4] - (before.matrix[4] + before.advance)
            for before, run in itertools.pairwise(line)
        )
        return cls(key, tuple(line), gaps)


def _number(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _show(run: Run, glyphs: Glyphs, text: str, x: float, dy: float) -> tuple[bytes, float]:
    """Operators drawing ``text`` as ``run`` was drawn, starting at ``x``; and its advance."""
    shown, width = glyphs.encode(text, run.kerning)
    a, b, c, d, _, y = run.matrix
    matrix = " ".join(_number(v) for v in (a, b, c, d, x, y + dy))
    colour = " ".join(_number(v) for v in run.colour)
    ops = f"{colour} rg BT {run.font} {_number(run.size)} Tf {matrix} Tm ".encode("ascii")
    return ops + shown + b" TJ ET\n", width * run.size / 1000


def card_ops(card: CardView, lines: CardLines, glyphs: dict[str, Glyphs], dy: float) -> bytes:
    """Operators writing ``card``'s own lines, ``dy`` below where its probe had them (in the
    units of the page WeasyPrint drew, which these operators set up themselves)."""
    key = lines.key
    ops = [b"q " + " ".join(_number(v) for v in key.ctm).encode() + b" cm\n"]
    ops.append(_show(key, glyphs[key.font], card.key, key.matrix[4], dy)[0])
    first = lines.line[0]
    if first.clip is not None:
        x, y, width, height = first.clip
        ops.append(
            f"q {_number(x)} {_number(y + dy)} {_number(width)} {_number(height)} re W n\n".encode()
        )
    texts = [card.name, f"({card.detail})", card.sub] if card.detail else [card.name, card.sub]
    x = first.matrix[4]
    for index, (run, text) in enumerate(zip(lines.line, texts, strict=True)):
        if index:
            x += lines.gaps[index - 1]
        shown, advance = _show(run, glyphs[run.font], text, x, dy)
        ops.append(shown)
        x += advance
    ops.append(b"Q\n" if first.clip is not None else b"")
    ops.append(b"Q\n")
    return b"".join(ops)
