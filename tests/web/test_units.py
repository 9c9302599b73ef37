"""The page's pure parts: sessions expire, the language is chosen, the chart draws every day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, cast
from zoneinfo import ZoneInfo

from contracts.directory import Admin, School
from contracts.events import Renewal
from services.keys.web.chart import cost_chart
from services.keys.web.format import next_renewal, usd
from services.keys.web.guard import Visit
from services.keys.web.session import Sessions
from services.keys.web.texts import choose


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_session_ends_after_its_idle_time_and_after_its_lifetime() -> None:
    clock = Clock()
    sessions = Sessions(timedelta(hours=8), timedelta(minutes=30), clock)
    idle = sessions.open("a1", "ais-admin-x")
    clock.now += timedelta(minutes=31)
    assert sessions.get(idle.session_id) is None
    busy = sessions.open("a1", "ais-admin-x")
    for _ in range(16):  # active every 29 minutes for almost 8 hours: still signed in
        clock.now += timedelta(minutes=29)
        assert sessions.get(busy.session_id) is busy
    clock.now += timedelta(minutes=29)
    assert sessions.get(busy.session_id) is None
    assert sessions.get(None) is None and sessions.get("made-up") is None


def test_session_ids_and_csrf_tokens_are_random_and_the_token_is_not_in_repr() -> None:
    sessions = Sessions(timedelta(hours=8), timedelta(minutes=30), Clock())
    one, two = sessions.open("a1", "ais-admin-secret"), sessions.open("a1", "ais-admin-secret")
    assert len({one.session_id, two.session_id, one.csrf, two.csrf}) == 4
    assert len(one.session_id) >= 40
    assert "ais-admin-secret" not in repr(one) and one.csrf not in repr(one)


def test_the_switch_wins_then_the_browsers_preferred_language_then_dutch() -> None:
    assert choose("en", "nl-NL,nl;q=0.9") == "en"
    assert choose(None, "en-GB,en;q=0.9,nl;q=0.8") == "en"
    assert choose(None, "de-DE,nl;q=0.5,en;q=0.4") == "nl"
    assert choose(None, "fr-FR") == "nl"
    assert choose("xx", None) == "nl"


def test_the_chart_has_a_bar_per_day_and_an_accessible_name() -> None:
    svg = cost_chart({date(2026, 12, 2): 1_500_000}, date(2026, 12, 1), date(2026, 12, 3), "Cost")
    assert svg.count("<rect") == 3
    assert 'aria-label="Cost"' in svg and "2026-12-02: 1.500000 USD" in svg


def test_next_renewal_is_the_next_local_period_start() -> None:
    now = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # 00:30 on 1 January in Amsterdam
    zone = "Europe/Amsterdam"
    assert next_renewal(Renewal.MONTHLY, now, zone) == datetime(2027, 2, 1, tzinfo=ZoneInfo(zone))
    assert next_renewal(Renewal.DAILY, now, zone) == datetime(2027, 1, 2, tzinfo=ZoneInfo(zone))
    assert next_renewal(Renewal.WEEKLY, now, zone) == datetime(2027, 1, 4, tzinfo=ZoneInfo(zone))
    assert next_renewal(Renewal.NONE, now, zone) is None


def test_money_shows_cents_and_keeps_sub_cent_usage_visible() -> None:
    assert usd(Decimal("12.5")) == "12.50"
    assert usd("0.000300") == "0.0003"
    assert usd(Decimal(0)) == "0.00"
    assert usd(None) == "—"


def test_the_page_asks_the_ledger_for_days_up_to_today_in_the_schools_time() -> None:
    # 23:10 UTC is 00:10 the next day in Amsterdam: a request made then is on the school's
    # new day, and a period ending on UTC's date would leave it out ("last use: never").
    schools = {
        "north": School("north", "North", "Europe/Amsterdam", "nl"),
        "west": School("west", "West", "America/New_York", "en"),
    }
    late = datetime(2026, 12, 6, 23, 10, tzinfo=UTC)
    ctx = SimpleNamespace(model=SimpleNamespace(directory=SimpleNamespace(schools=schools)))
    ctx.clock = lambda: late

    def today_for(school_ids: frozenset[str] | None) -> date:
        admin = Admin("a1", "Ann", school_ids)
        api = cast(Any, SimpleNamespace(ctx=ctx))
        return Visit(admin, cast(Any, None), "en", api, cast(Any, None)).today()

    assert today_for(frozenset({"north"})) == date(2026, 12, 7)
    assert today_for(frozenset({"west"})) == date(2026, 12, 6)
    assert today_for(None) == date(2026, 12, 7)
