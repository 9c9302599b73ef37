"""Sorting and paging of a list report's rows; pure."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from services.ledger.domain.scope import Dimension


class SortBy(StrEnum):
    """What a list report can be sorted by."""

    COST = "cost"
    REQUESTS = "requests"
    LAST_USE = "last_use"
    NAME = "name"


class Order(StrEnum):
    ASC = "asc"
    DESC = "desc"


# The columns that name a row, in the order a person reads them.
NAME_COLUMNS: dict[Dimension, tuple[str, ...]] = {
    "user": ("user_name", "user_id"),
    "key": ("user_name", "key_hint", "key_id"),
    "group": ("school_name", "group_name", "group_id"),
    "school": ("school_name", "school_id"),
    "model": ("model",),
    "day": ("day",),
    "user_model": ("user_name", "user_id", "model"),
    "group_day": ("school_name", "group_name", "group_id", "day"),
}
_METRIC = {SortBy.COST: "cost_micro_usd", SortBy.REQUESTS: "requests", SortBy.LAST_USE: "last_use"}


def arrange(
    rows: Sequence[dict[str, Any]], by: Dimension, sort: SortBy | None, order: Order | None
) -> list[dict[str, Any]]:
    """The rows sorted (ties by name); unsorted rows keep their order. Rows without a last
    use come last whatever the order."""
    if sort is None:
        return list(reversed(rows)) if order is Order.DESC else list(rows)
    by_name = sorted(rows, key=lambda r: tuple(str(r.get(c) or "") for c in NAME_COLUMNS[by]))
    if sort is SortBy.NAME:
        return by_name[::-1] if order is Order.DESC else by_name
    column = _METRIC[sort]
    present = [r for r in by_name if r.get(column) is not None]
    missing = [r for r in by_name if r.get(column) is None]
    descending = order is not Order.ASC  # the most used first, unless asked otherwise
    return sorted(present, key=lambda r: r[column], reverse=descending) + missing


def page(rows: list[dict[str, Any]], offset: int, limit: int | None) -> list[dict[str, Any]]:
    """One page of the rows."""
    return rows[offset:] if limit is None else rows[offset : offset + limit]
