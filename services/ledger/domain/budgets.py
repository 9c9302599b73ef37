"""Budget columns next to a key's usage, and the keys without usage as zero rows; pure.

"Used this period" sums the school-day rollup from the day the key's period started: a
period starts at the school's midnight (``contracts/periods.py``) or, for its first period,
when the key was issued, before which the key had no usage, so the sum is exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any
from uuid import UUID

from contracts.money import usd_text
from contracts.periods import next_boundary
from services.ledger.domain.projection import KeyFacts, KeysView
from services.ledger.domain.scope import Filters

BUDGET_COLUMNS = (
    "budget_usd",
    "budget_micro_usd",
    "used_this_period_usd",
    "used_this_period_micro_usd",
    "remaining_usd",
    "remaining_micro_usd",
    "period_start",
    "renews_at",
    "renewal",
    "revoked",
)
_ZERO = dict.fromkeys(
    ("requests", "input_tokens", "output_tokens", "cached_tokens", "cost_micro_usd", "chats"), 0
)


def period_days(view: KeysView, key_ids: list[UUID]) -> dict[UUID, date]:
    """The school day each key's current period began on."""
    days = {}
    for key_id in key_ids:
        facts = view.keys.get(key_id)
        if facts is not None and facts.period_start is not None:
            days[key_id] = facts.period_start.astimezone(view.time_zone(facts.school_id)).date()
    return days


def with_budget(row: Mapping[str, Any], view: KeysView, used: Mapping[UUID, int]) -> dict[str, Any]:
    """The key's row plus its budget, what it used this period, what is left, and when the
    period renews."""
    facts = view.keys.get(row["key_id"])
    if facts is None:
        return {**row, **dict.fromkeys(BUDGET_COLUMNS)}
    spent = used.get(facts.key_id, 0)
    left = max(facts.budget_micro_usd - spent, 0)
    return {**row, **_columns(facts, spent, left, view)}


def _columns(facts: KeyFacts, spent: int, left: int, view: KeysView) -> dict[str, Any]:
    zone = view.time_zone(facts.school_id)
    renews = None
    if facts.period_start is not None:
        renews = next_boundary(facts.renewal, facts.period_start, zone)
    return {
        "budget_usd": usd_text(facts.budget_micro_usd),
        "budget_micro_usd": facts.budget_micro_usd,
        "used_this_period_usd": usd_text(spent),
        "used_this_period_micro_usd": spent,
        "remaining_usd": usd_text(left),
        "remaining_micro_usd": left,
        "period_start": facts.period_start,
        "renews_at": renews,
        "renewal": facts.renewal.value,
        "revoked": facts.revoked,
    }


def with_idle_keys(rows: list[dict[str, Any]], view: KeysView, f: Filters) -> list[dict[str, Any]]:
    """The keys the filters name that had no usage in the period, as zero rows (an idle key
    is information); a question about a model lists only keys that used it."""
    if f.model is not None:
        return rows
    used = {r["key_id"] for r in rows}
    idle = [k for k in view.keys.values() if k.key_id not in used and _matches(k, f)]
    added = [
        {"key_id": k.key_id, "user_id": k.user_id, "school_id": k.school_id}
        | {"group_id": k.group_id, **_ZERO, "first_use": None, "last_use": None}
        for k in idle
    ]
    return sorted(rows + added, key=lambda r: str(r["key_id"]))


def _matches(k: KeyFacts, f: Filters) -> bool:
    wanted = {
        "school_id": f.school_id,
        "group_id": f.group_id,
        "user_id": f.user_id,
        "key_id": f.key_id,
    }
    in_scope = f.schools is None or k.school_id in f.schools
    return in_scope and all(v is None or getattr(k, n) == v for n, v in wanted.items())
