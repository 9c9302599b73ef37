"""Budget period boundaries in a school's time zone; pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from contracts.events import Renewal


def latest_boundary(renewal: Renewal, now: datetime, time_zone: str) -> datetime | None:
    """The last period start at or before ``now`` (UTC), or None for ``Renewal.NONE``.

    Daily: local midnight; weekly: Monday 00:00; monthly: the 1st at 00:00.
    """
    local = now.astimezone(ZoneInfo(time_zone))
    day = local.date()
    if renewal is Renewal.DAILY:
        start = day
    elif renewal is Renewal.WEEKLY:
        start = day - timedelta(days=day.weekday())
    elif renewal is Renewal.MONTHLY:
        start = day.replace(day=1)
    else:
        return None
    midnight = datetime(start.year, start.month, start.day, tzinfo=ZoneInfo(time_zone))
    return midnight.astimezone(UTC)
