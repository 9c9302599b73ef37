"""How a document is cut into parts that render independently: pure."""

from __future__ import annotations

from dataclasses import dataclass

# Four cards fill an A4 page; a part of whole pages makes the joined PDF look exactly like
# one rendered document. 48 cards (12 pages) keeps both cores busy on a 500-card sheet
# while each part's fixed cost (stylesheet, fonts) stays small.
CARDS_PER_PAGE = 4
CARDS_PER_PART = 12 * CARDS_PER_PAGE


@dataclass(frozen=True)
class Part:
    """One independently rendered piece: the cover with its roster, and/or a run of cards."""

    cover: bool
    cards: range


def plan_parts(card_count: int, *, with_cover: bool, per_part: int = CARDS_PER_PART) -> list[Part]:
    """The cover (if any) alone, then the cards in runs of ``per_part``, in page order."""
    runs = [
        range(start, min(start + per_part, card_count)) for start in range(0, card_count, per_part)
    ]
    parts = [Part(cover=False, cards=run) for run in runs]
    return [Part(cover=True, cards=range(0)), *parts] if with_cover else parts
