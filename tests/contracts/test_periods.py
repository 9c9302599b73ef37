"""The budget-period rule, by example and by property across zones, month ends, leap days and
both daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.events import Renewal
from contracts.periods import latest_date, next_boundary, period_start

AMS = ZoneInfo("Europe/Amsterdam")
TICK = timedelta(microseconds=1)
RENEWING = st.sampled_from([Renewal.DAILY, Renewal.WEEKLY, Renewal.MONTHLY])
# Zones chosen for their traps: DST at midnight (Havana, Santiago, Beirut), half and quarter
# hours (Kolkata, Kathmandu, Chatham, St John's), a 30-minute DST (Lord Howe), the southern
# hemisphere, a skipped day (Apia), no DST at all; and any other zone hypothesis picks.
TRAPS = st.sampled_from(
    [
        "Europe/Amsterdam",
        "America/New_York",
        "America/Havana",
        "America/Santiago",
        "Asia/Beirut",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "Pacific/Chatham",
        "America/St_Johns",
        "Australia/Lord_Howe",
        "Pacific/Auckland",
        "Pacific/Apia",
        "UTC",
    ]
)
ZONES = st.one_of(TRAPS, st.timezone_keys()).map(ZoneInfo)
INSTANTS = st.datetimes(
    min_value=datetime(1995, 1, 1), max_value=datetime(2060, 12, 31), timezones=st.just(UTC)
)


def _calendar_key(renewal: Renewal, moment: datetime, zone: ZoneInfo) -> object:
    """What stays the same within one period: the local day, ISO week or month."""
    day = moment.astimezone(zone).date()
    if renewal is Renewal.DAILY:
        return day
    if renewal is Renewal.WEEKLY:
        return day.isocalendar()[:2]
    return (day.year, day.month)


@settings(max_examples=300, deadline=None)
@given(renewal=RENEWING, zone=ZONES, at=INSTANTS)
def test_the_period_is_the_whole_local_day_week_or_month_around_the_instant(
    renewal: Renewal, zone: ZoneInfo, at: datetime
) -> None:
    start, end = period_start(renewal, at, zone), next_boundary(renewal, at, zone)
    assert start is not None and end is not None
    assert start <= at < end
    key = _calendar_key(renewal, at, zone)
    # Maximal: the calendar key holds from start to just before end, and changes on both sides.
    assert _calendar_key(renewal, start, zone) == key == _calendar_key(renewal, end - TICK, zone)
    assert _calendar_key(renewal, start - TICK, zone) != key != _calendar_key(renewal, end, zone)


@settings(max_examples=200, deadline=None)
@given(renewal=RENEWING, zone=ZONES, at=INSTANTS)
def test_a_boundary_belongs_to_the_period_it_starts(
    renewal: Renewal, zone: ZoneInfo, at: datetime
) -> None:
    end = next_boundary(renewal, at, zone)
    assert end is not None
    assert period_start(renewal, end, zone) == end
    assert period_start(renewal, end - TICK, zone) == period_start(renewal, at, zone)


@pytest.mark.parametrize(
    ("renewal", "at", "zone", "start", "end"),
    [
        # A weekly key issued on Wednesday 07:43 renews on Monday 00:00, not next Wednesday.
        (
            Renewal.WEEKLY,
            datetime(2026, 11, 4, 7, 43, tzinfo=AMS),
            AMS,
            datetime(2026, 11, 2, tzinfo=AMS),
            datetime(2026, 11, 9, tzinfo=AMS),
        ),
        # Leap day: February 2028 has 29 days, and the 29th is a day of its own.
        (
            Renewal.MONTHLY,
            datetime(2028, 2, 29, 23, 30, tzinfo=AMS),
            AMS,
            datetime(2028, 2, 1, tzinfo=AMS),
            datetime(2028, 3, 1, tzinfo=AMS),
        ),
        (
            Renewal.DAILY,
            datetime(2028, 2, 29, 0, 0, tzinfo=AMS),
            AMS,
            datetime(2028, 2, 29, tzinfo=AMS),
            datetime(2028, 3, 1, tzinfo=AMS),
        ),
        # December rolls over into January of the next year.
        (
            Renewal.MONTHLY,
            datetime(2026, 12, 31, 23, 59, tzinfo=AMS),
            AMS,
            datetime(2026, 12, 1, tzinfo=AMS),
            datetime(2027, 1, 1, tzinfo=AMS),
        ),
        # Spring forward (Amsterdam, 29 March 2026 02:00 -> 03:00): a 23-hour day.
        (
            Renewal.DAILY,
            datetime(2026, 3, 29, 12, tzinfo=AMS),
            AMS,
            datetime(2026, 3, 28, 23, tzinfo=UTC),
            datetime(2026, 3, 29, 22, tzinfo=UTC),
        ),
        # Fall back (Amsterdam, 25 October 2026 03:00 -> 02:00): a 25-hour day.
        (
            Renewal.DAILY,
            datetime(2026, 10, 25, 12, tzinfo=AMS),
            AMS,
            datetime(2026, 10, 24, 22, tzinfo=UTC),
            datetime(2026, 10, 25, 23, tzinfo=UTC),
        ),
        # Santiago skips 00:00 (6 September 2026, 00:00 -> 01:00): the day starts at 01:00.
        (
            Renewal.DAILY,
            datetime(2026, 9, 6, 12, tzinfo=UTC),
            ZoneInfo("America/Santiago"),
            datetime(2026, 9, 6, 4, tzinfo=UTC),
            datetime(2026, 9, 7, 3, tzinfo=UTC),
        ),
    ],
)
def test_periods_by_example(
    renewal: Renewal, at: datetime, zone: ZoneInfo, start: datetime, end: datetime
) -> None:
    assert period_start(renewal, at, zone) == start
    assert next_boundary(renewal, at, zone) == end


def test_a_key_that_does_not_renew_has_no_period() -> None:
    now = datetime(2026, 11, 4, tzinfo=UTC)
    assert period_start(Renewal.NONE, now, AMS) is None
    assert next_boundary(Renewal.NONE, now, AMS) is None


def test_today_is_the_latest_date_among_the_zones_and_utcs_without_any() -> None:
    late = datetime(2026, 12, 6, 23, 10, tzinfo=UTC)  # 00:10 on the 7th in Amsterdam
    amsterdam, new_york = ZoneInfo("Europe/Amsterdam"), ZoneInfo("America/New_York")
    assert latest_date(late, [amsterdam]).isoformat() == "2026-12-07"
    assert latest_date(late, [new_york, amsterdam]).isoformat() == "2026-12-07"
    assert latest_date(late, [new_york]).isoformat() == "2026-12-06"
    assert latest_date(late, []).isoformat() == "2026-12-06"
