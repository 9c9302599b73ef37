"""Budget periods: which period an instant falls in, and when the next begins. Pure.

One rule for every service (keys renews on it, the gateway tells a student when the budget
renews, the ledger reports "used this period"): a daily period starts at the school's local
midnight, a weekly one on Monday 00:00, a monthly one on the 1st at 00:00. When local midnight
does not exist (a daylight-saving jump at 00:00) the period starts at the first instant of
that local day; when it occurs twice, at the first of the two.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from contracts.events import Renewal


def _first_day(renewal: Renewal, day: date) -> date | None:
    """The local day its period starts on, or None when the key does not renew."""
    if renewal is Renewal.DAILY:
        return day
    if renewal is Renewal.WEEKLY:
        return day - timedelta(days=day.weekday())
    if renewal is Renewal.MONTHLY:
        return day.replace(day=1)
    return None


def _following_day(renewal: Renewal, first: date) -> date:
    """The local day the period after the one starting on ``first`` starts on."""
    if renewal is Renewal.DAILY:
        return first + timedelta(days=1)
    if renewal is Renewal.WEEKLY:
        return first + timedelta(days=7)
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def latest_date(now: datetime, zones: Iterable[ZoneInfo]) -> date:
    """Today in the zone where it is latest (UTC's date without zones): a period of school
    days ending "today" leaves no school's today out (just after a school's midnight its
    day has begun while UTC's has not)."""
    return max((now.astimezone(zone).date() for zone in set(zones)), default=now.date())


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) of a local day in ``zone``."""
    # fold=0 maps a skipped 00:00 to the instant of the jump (the day's first instant), a
    # repeated 00:00 to its first occurrence, and a skipped day (Pacific/Apia, 30 December
    # 2011) to the start of the day after it.
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def period_start(renewal: Renewal, at: datetime, zone: ZoneInfo) -> datetime | None:
    """The start (UTC) of the period containing ``at``, or None for ``Renewal.NONE``."""
    first = _first_day(renewal, at.astimezone(zone).date())
    return None if first is None else day_start(first, zone)


def next_boundary(renewal: Renewal, at: datetime, zone: ZoneInfo) -> datetime | None:
    """When (UTC) the period after the one containing ``at`` begins ("renews at")."""
    first = _first_day(renewal, at.astimezone(zone).date())
    return None if first is None else day_start(_following_day(renewal, first), zone)
