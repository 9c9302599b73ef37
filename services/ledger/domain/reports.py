"""Report rows with names and money in both forms, and their CSV rendering; pure."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from typing import Any

from contracts.events import Role
from contracts.money import usd_text
from services.ledger.domain.projection import KeysView
from services.ledger.domain.scope import Dimension, Filters

METRICS = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_usd",
    "cost_micro_usd",
    "chats",
    "first_use",
    "last_use",
)
NAMED: dict[Dimension, tuple[str, ...]] = {
    "user": ("user_id", "user_name"),
    "key": (
        "key_id",
        "key_hint",
        "user_id",
        "user_name",
        "group_id",
        "group_name",
        "school_id",
        "school_name",
        "time_zone",
    ),
    "group": ("group_id", "group_name", "school_id", "school_name", "time_zone"),
    "school": ("school_id", "school_name", "time_zone"),
    "model": ("model",),
    "day": ("day",),
    "user_model": ("user_id", "user_name", "model"),
    "group_day": ("group_id", "group_name", "school_id", "school_name", "time_zone", "day"),
}
CHAT_COLUMNS = (
    "chat_id",
    "title",
    "model",
    "user_id",
    "user_name",
    "created_at",
    "first_activity",
    "last_activity",
    "requests",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "cost_micro_usd",
)
REQUEST_COLUMNS = (
    "request_id",
    "at",
    "model",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_usd",
    "cost_micro_usd",
    "status",
    "stream",
    "latency_ms",
    "estimated",
)


def with_names(row: Mapping[str, Any], view: KeysView) -> dict[str, Any]:
    """The row plus the names of the ids it holds, and its cost as a decimal string."""
    named = dict(row)
    if "user_id" in row:
        named["user_name"] = view.user_name(row["user_id"])
    if "group_id" in row:
        # A staff key has no group: no group name either (null, like its group_id).
        named["group_name"] = view.group_name(row["group_id"]) if row["group_id"] else None
    if "school_id" in row:
        named["school_name"] = view.school_name(row["school_id"])
        named["time_zone"] = view.time_zone(row["school_id"]).key
    if "key_id" in row:
        named["key_hint"] = view.key_hint(row["key_id"])
    if "cost_micro_usd" in row:
        named["cost_usd"] = usd_text(int(row["cost_micro_usd"]))
    return named


# The columns of a report row that are their own name, after the ids and names (NAMED).
_OWN_NAME = ("day", "model")


def usage_rows(
    rows: Iterable[Mapping[str, Any]], by: Dimension, view: KeysView
) -> list[dict[str, Any]]:
    """Rollup aggregates as report rows, in the column order of the CSV."""
    return _shaped(rows, by, view, lambda column: column)


def table_rows(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], by: Dimension, view: KeysView
) -> list[dict[str, Any]]:
    """``usage_rows`` of rows of values in the order of ``columns``."""
    return _shaped(rows, by, view, columns.index)


def _shaped(
    rows: Iterable[Any], by: Dimension, view: KeysView, key: Callable[[str], Any]
) -> list[dict[str, Any]]:
    """Report rows of rows whose value of a column is ``row[key(column)]``.

    A school's groups x days over a year are 7 300 rows of 20 groups: the names are looked
    up once per ids (as ``with_names`` does) into a first row of that group, with every
    column in its place, and each row is a copy of it with the row's values put in."""
    own = tuple(c for c in NAMED[by] if c in _OWN_NAME)
    named = NAMED[by][: len(NAMED[by]) - len(own)]
    assert named + own == NAMED[by], f"{by}: a day or model column comes last"
    ids = tuple(c for c in named if c.endswith("_id"))
    after = own + METRICS
    # The row's values of the columns after the names; cost_usd's place first holds the
    # micro-dollars, written as dollars below.
    values_of = itemgetter(*(key("cost_micro_usd" if c == "cost_usd" else c) for c in after))
    ids_of = _values(tuple(map(key, ids)))
    firsts: dict[tuple[Any, ...], dict[str, Any]] = {}
    shaped = []
    for row in rows:
        found = ids_of(row)
        first = firsts.get(found)
        if first is None:
            names = with_names(dict(zip(ids, found, strict=True)), view)
            first = firsts[found] = {c: names[c] for c in named} | dict.fromkeys(after)
        report_row = first.copy()
        report_row.update(zip(after, values_of(row), strict=True))
        report_row["cost_usd"] = usd_text(int(report_row["cost_usd"]))
        shaped.append(report_row)
    return shaped


def _values(keys: tuple[Any, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A function of a row to its values at these keys, as a tuple."""
    if len(keys) > 1:
        return itemgetter(*keys)
    return (lambda row: (row[keys[0]],)) if keys else (lambda row: ())


def with_idle_users(rows: list[dict[str, Any]], view: KeysView, f: Filters) -> list[dict[str, Any]]:
    """The users the filters name (a group's members, a school's or the scope's users, one
    user) without usage in the period, as zero rows, so a class list or staff list shows
    everyone; a question about a key or a model lists only who used it."""
    if f.key_id or f.model:
        return rows
    idle = _users_asked(view, f) - {r["user_id"] for r in rows}
    zero = {m: 0 for m in METRICS[:4] + ("cost_micro_usd", "chats")}
    added = [{"user_id": u, **zero, "first_use": None, "last_use": None} for u in idle]
    return sorted(rows + added, key=lambda r: str(r["user_id"]))


def _users_asked(view: KeysView, f: Filters) -> set[str]:
    users = view.directory.users
    if f.user_id is not None:
        return {f.user_id}
    if f.group_id is not None:
        group = view.directory.groups.get(f.group_id)
        return set(group.members) if group else set()
    schools = {f.school_id} if f.school_id is not None else f.schools
    return {u for u, user in users.items() if schools is None or set(user.school_ids) & schools}


def of_role(rows: list[dict[str, Any]], role: Role | None, view: KeysView) -> list[dict[str, Any]]:
    """The rows of users of this role (all rows when no role is asked)."""
    if role is None:
        return rows
    users = view.directory.users
    return [r for r in rows if r["user_id"] in users and users[r["user_id"]].role == role]


def total(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The sum of a report's rows (first and last use over all of them)."""
    summed = METRICS[:4] + ("cost_micro_usd", "chats")
    sums = {m: int(sum(map(itemgetter(m), rows))) for m in summed}
    firsts = [t for t in map(itemgetter("first_use"), rows) if t is not None]
    lasts = [t for t in map(itemgetter("last_use"), rows) if t is not None]
    return {
        **sums,
        "cost_usd": usd_text(sums["cost_micro_usd"]),
        "first_use": min(firsts) if firsts else None,
        "last_use": max(lasts) if lasts else None,
    }


def chat_rows(rows: Iterable[Mapping[str, Any]], view: KeysView) -> list[dict[str, Any]]:
    """A key's chats as report rows."""
    renamed = (
        {**row, "first_activity": row["first_at"], "last_activity": row["last_at"]} for row in rows
    )
    return [_pick(with_names(row, view), CHAT_COLUMNS) for row in renamed]


def request_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A chat's requests as report rows."""
    return [_pick(with_names(row, KeysView()), REQUEST_COLUMNS) for row in rows]


def to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], sep: str = ",") -> str:
    """CSV with a header row; times in ISO 8601, empty cells for missing values."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    # A cell that a spreadsheet would run as a formula is quoted as text.
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


def _pick(row: Mapping[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    return {c: row.get(c) for c in columns}
