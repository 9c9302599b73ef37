"""How the Coding page writes money, times in a school's zone and renewals. Pure."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from contracts.events import Renewal
from contracts.periods import next_boundary

CENT = Decimal("0.01")
SMALL = Decimal("0.0001")


def usd(value: Decimal | str | None) -> str:
    """Dollars with two decimals; amounts under a cent keep four, so usage is never '0.00'."""
    if value is None:
        return "—"
    amount = Decimal(value)
    if amount and abs(amount) < CENT:
        return str(amount.quantize(SMALL, rounding=ROUND_HALF_UP))
    return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))


def local(moment: datetime | None, zone: str) -> str:
    """A moment as the school's wall-clock time, to the minute."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def parse_time(value: str | None) -> datetime | None:
    """An ISO time from the ledger (or None)."""
    return None if not value else datetime.fromisoformat(value)


def next_renewal(renewal: Renewal, now: datetime, zone: str) -> datetime | None:
    """When the budget renews next (the rule of ``contracts.periods``), or None without renewal."""
    return next_boundary(renewal, now, ZoneInfo(zone))


def share(used: Decimal, budget: Decimal) -> int:
    """Budget used in whole percent (0-100), for the bar."""
    if budget <= 0:
        return 0
    return min(100, int(used * 100 / budget))
