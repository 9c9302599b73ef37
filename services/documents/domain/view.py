"""What a document shows, computed from a render request: pure, no I/O, no rendering."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts.documents import KeySheetRequest
from contracts.money import format_usd
from services.documents.domain.setup import setup_columns
from services.documents.errors import DocumentsError

LONG_NAME = 28  # longer names print smaller on a card
SHOWN_NAME = 60  # and longer ones are cut, so a card's first line never runs into the QR code


def shown_name(name: str) -> str:
    """The name as printed: at most ``SHOWN_NAME`` characters, an ellipsis if cut."""
    return name if len(name) <= SHOWN_NAME else f"{name[: SHOWN_NAME - 1]}…"


@dataclass(frozen=True)
class CardView:
    """One person's cut-out card; ``number`` counts from 1 across the whole sheet."""

    number: int
    name: str
    key: str
    # School, group and "n/count" after the name, in one place for templates and typeset.py.
    sub: str
    detail: str = ""  # beside the name when another card bears the same name
    long_name: bool = False  # printed smaller, so name and group still fit on the first line


def card_view(number: int, name: str, key: str, detail: str, sub: str) -> CardView:
    """A card as printed: the name cut to ``SHOWN_NAME``, smaller when it is long."""
    shown = shown_name(name)
    return CardView(number, shown, key, sub, detail, len(shown) + len(detail) > LONG_NAME)


def card_sub(request: KeySheetRequest, number: int) -> str:
    """``School · Group · 3/28``: the group when there is one, the number on a sheet."""
    parts = [request.school_name]
    if request.group_name:
        parts.append(request.group_name)
    if len(request.cards) > 1:
        parts.append(f"{number}/{len(request.cards)}")
    return " · ".join(parts)


@dataclass(frozen=True)
class RosterLine:
    """A line of the teacher's list: who got which key, by its last four characters."""

    number: int
    name: str
    key_hint: str
    detail: str = ""


@dataclass(frozen=True)
class SheetView:
    """Everything a template needs for one part of a document: texts, facts, cards."""

    t: dict[str, Any]
    school: str
    group: str | None
    date: str
    budget: str
    renewal: str
    validity: str
    base_url: str
    model: str
    # The set-up lines, two columns (setup.py), each one text of lines.
    setup: tuple[str, str]
    count: int
    roster: tuple[RosterLine, ...]
    cards: tuple[CardView, ...]
    # On a sheet's card part: per card layout, a blank card and two probe cards (typeset.py).
    probes: tuple[tuple[CardView, CardView, CardView], ...] = ()


def school_zone(name: str) -> ZoneInfo:
    """The school's IANA time zone, or a precise error."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DocumentsError("time_zone: not a known IANA time zone") from exc


def format_date(moment: datetime, zone: ZoneInfo, months: list[str]) -> str:
    """``3 September 2026`` in the school's time zone, month names in its language."""
    local = moment.astimezone(zone)
    return f"{local.day} {months[local.month - 1]} {local.year}"


def format_moment(moment: datetime, zone: ZoneInfo, months: list[str]) -> str:
    """Date and time in the school's time zone, e.g. ``1 September 2026 08:00``."""
    local = moment.astimezone(zone)
    return f"{format_date(local, zone, months)} {local:%H:%M}"


def validity(request: KeySheetRequest, zone: ZoneInfo, t: dict[str, Any]) -> str:
    """``from 1 September 2026 00:00 until ... (Europe/Amsterdam)``, or "no time limit"."""
    bounds = [
        f"{t[word]} {format_moment(moment, zone, t['months'])}"
        for word, moment in (("from", request.valid_from), ("until", request.valid_until))
        if moment is not None
    ]
    if not bounds:
        return str(t["always"])
    return f"{' '.join(bounds)} ({request.time_zone})"


def _setup(base_url: str, model: str) -> tuple[str, str]:
    left, right = setup_columns(base_url, model)
    return "\n".join(left), "\n".join(right)


def part_view(
    request: KeySheetRequest, t: dict[str, Any], *, cover: bool, cards: range
) -> SheetView:
    """The facts of a sheet or letter in the school's language and time zone, with the cover's
    roster if ``cover`` and the cards at the indexes in ``cards``."""
    zone = school_zone(request.time_zone)
    every = request.cards
    return SheetView(
        t=t,
        school=request.school_name,
        group=request.group_name,
        date=format_date(request.issued_at, zone, t["months"]),
        budget=format_usd(request.budget_micro_usd),
        renewal=t["renewal_names"][request.renewal.value],
        validity=validity(request, zone, t),
        base_url=request.base_url,
        model=request.model or t["model_placeholder"],
        setup=_setup(request.base_url, request.model or t["model_placeholder"]),
        count=len(every),
        roster=tuple(
            RosterLine(i + 1, shown_name(c.name), c.key_hint, c.detail or "")
            for i, c in enumerate(every)
        )
        if cover
        else (),
        cards=tuple(
            card_view(
                i + 1, every[i].name, every[i].key, every[i].detail or "", card_sub(request, i + 1)
            )
            for i in cards
        ),
    )
