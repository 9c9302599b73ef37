"""An administrator's view of the ledger: what it may ask about, as filters; pure.

Anything outside the administrator's schools is answered exactly like something that does not
exist (404), so a scope probe learns nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from contracts.directory import Admin
from contracts.periods import latest_date
from services.ledger.domain.projection import KeysView
from services.ledger.errors import InvalidParameter, NotFound

# What a usage report is grouped by.
Dimension = Literal["user", "key", "group", "school", "model", "day", "user_model", "group_day"]


@dataclass(frozen=True)
class Period:
    """Whole days in each school's own time zone, both ends included."""

    start: date
    end: date


@dataclass(frozen=True)
class Filters:
    """What a report is restricted to; ``schools`` None means every school."""

    period: Period
    schools: frozenset[str] | None
    school_id: str | None = None
    group_id: str | None = None
    user_id: str | None = None
    key_id: UUID | None = None
    model: str | None = None


def period(start: date | None, end: date | None, today: date) -> Period:
    """The asked period; by default from the first of ``end``'s month to today."""
    end = end or today
    start = start or end.replace(day=1)
    if end < start:
        raise InvalidParameter(
            f"'to' ({end.isoformat()}) is before 'from' ({start.isoformat()}).", field="to"
        )
    return Period(start, end)


def check_school(admin: Admin, view: KeysView, school_id: str) -> None:
    """404 unless the school exists and is in scope."""
    if school_id not in view.directory.schools or not admin.sees(school_id):
        raise NotFound(f"No school {school_id!r}.", field="school_id")


def check_group(admin: Admin, view: KeysView, group_id: str) -> None:
    """404 unless the group exists and its school is in scope."""
    school_id = view.directory.school_of_group(group_id)
    if school_id is None or not admin.sees(school_id):
        raise NotFound(f"No group {group_id!r}.", field="group_id")


def check_user(admin: Admin, view: KeysView, user_id: str) -> None:
    """404 unless the user exists in one of the administrator's schools."""
    user = view.directory.users.get(user_id)
    if user is None or not any(admin.sees(s) for s in user.school_ids):
        raise NotFound(f"No user {user_id!r}.", field="user_id")


def check_key(admin: Admin, view: KeysView, key_id: UUID) -> None:
    """404 unless the key exists and its school is in scope."""
    facts = view.keys.get(key_id)
    if facts is None or not admin.sees(facts.school_id):
        raise NotFound(f"No key {key_id}.", field="key_id")


def filters(admin: Admin, view: KeysView, asked: Filters) -> Filters:
    """The asked filters, each checked against the scope, plus the scope itself."""
    if asked.school_id is not None:
        check_school(admin, view, asked.school_id)
    if asked.group_id is not None:
        check_group(admin, view, asked.group_id)
    if asked.user_id is not None:
        check_user(admin, view, asked.user_id)
    if asked.key_id is not None:
        check_key(admin, view, asked.key_id)
    return Filters(
        asked.period,
        admin.school_ids,
        asked.school_id,
        asked.group_id,
        asked.user_id,
        asked.key_id,
        asked.model,
    )


def schools_in_question(view: KeysView, f: Filters) -> list[str]:
    """The schools a report's rows can come from: the narrowest filter's, else the scope's."""
    directory = view.directory
    if f.key_id is not None:
        return [view.keys[f.key_id].school_id]
    if f.school_id is not None:
        return [f.school_id]
    if f.group_id is not None:
        return [s for s in [directory.school_of_group(f.group_id)] if s is not None]
    seen = sorted(directory.schools if f.schools is None else f.schools & set(directory.schools))
    if f.user_id is not None:
        user = directory.users[f.user_id]
        return [s for s in seen if s in user.school_ids]
    return seen


def time_zones(view: KeysView, schools: list[str]) -> dict[str, str]:
    """Each school's time zone name, as reports state it."""
    return {s: view.time_zone(s).key for s in schools}


def today(zones: dict[str, str], now: datetime) -> date:
    """The latest local date among the schools' zones (``contracts.periods.latest_date``)."""
    return latest_date(now, map(view_zone, zones.values()))


def view_zone(name: str) -> ZoneInfo:
    """A zone by name (names here come from ``time_zones``, so they exist)."""
    return ZoneInfo(name)
