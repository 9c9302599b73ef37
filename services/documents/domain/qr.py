"""A key's QR code as PDF drawing operators: pure, no rendering library involved."""

from __future__ import annotations

import functools
import re

import segno

MM = 72 / 25.4  # PDF points per millimetre
CSS_PX = 0.75  # PDF points per CSS pixel
QR_SIZE = 30 * MM  # the .qr box in sheet.css
BORDER = 2  # quiet modules around the code, inside the box (the card's margin adds more)
# Rows overlap by a hair so viewers do not show seams between them.
_SEAM = 0.02


_DARK = re.compile(b"\x01+")


def dark_runs(row: bytearray) -> list[tuple[int, int]]:
    """(start, length) of each run of dark modules in a row."""
    return [(run.start(), run.end() - run.start()) for run in _DARK.finditer(bytes(row))]


@functools.cache
def _version(length: int) -> int:
    """The smallest QR version that holds ``length`` bytes at level M, as segno chooses it:
    found once per length, since finding it took half of segno's time for each code."""
    version = segno.make("k" * length, error="m", mode="byte", micro=False, mask=0).version
    assert isinstance(version, int), "a QR code (not a Micro QR) has a numbered version"
    return version


def qr_drawing(key: str, left_px: float, top_px: float, page_height_pt: float) -> bytes:
    """Operators that fill the key's QR code (level M) into the 30 mm box whose top-left
    corner is at (``left_px``, ``top_px``) CSS pixels from the page's top-left corner."""
    # Level M survives a crumpled card. A fixed mask skips segno's mask search, which took
    # three quarters of its time; every mask gives a valid code. Byte mode and the version
    # for the key's length are what segno would choose for a key (it has lower-case letters).
    version = _version(len(key.encode()))
    matrix = segno.make(key, error="m", mode="byte", version=version, mask=0).matrix
    module = QR_SIZE / (len(matrix) + 2 * BORDER)
    x0 = left_px * CSS_PX + BORDER * module
    top = page_height_pt - top_px * CSS_PX - BORDER * module
    # In module units, rows counted downwards from the code's top-left corner: the
    # rectangles are small integers, cheap to write and to read.
    height = f"{1 + _SEAM / module:.3f}"
    rects = [
        f"{col} {row} {length} {height} re"
        for row, cells in enumerate(matrix)
        for col, length in dark_runs(cells)
    ]
    place = f"{module:.4f} 0 0 {-module:.4f} {x0:.3f} {top:.3f} cm"
    return ("q 0 g " + place + "\n" + "\n".join(rects) + "\nf Q\n").encode("ascii")
