"""Input rules for budgets and the times of a window; pure (time zones come from zoneinfo data).

The window itself (an end after the start, not in the past) is a key rule: ``keys.check_window``."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts.money import format_usd, is_whole_cents, usd_to_micro
from services.keys.errors import InvalidInput

# A model name as printed in the setup lines of key sheets: one shell word, no spaces.
MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,99}$"


def budget_micro(usd: Decimal, max_usd: Decimal) -> int:
    """The budget in micro-USD: finite, positive, whole cents, at most ``max_usd``."""
    if not usd.is_finite():
        raise InvalidInput(f"budget_usd must be a finite number of US dollars, not {usd}.")
    if usd <= 0:
        raise InvalidInput(f"budget_usd must be more than 0 US dollars, not {usd}.")
    if usd > max_usd:
        raise InvalidInput(
            f"budget_usd may be at most {format_usd(usd_to_micro(max_usd))}, not {usd:f}."
        )
    if not is_whole_cents(usd):
        raise InvalidInput(f"budget_usd must be whole cents (at most 2 decimals), not {usd:f}.")
    return usd_to_micro(usd)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone called ``name``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"{name!r} is not an IANA time zone (e.g. 'Europe/Amsterdam').") from exc


def aware(moment: datetime | None, time_zone: str) -> datetime | None:
    """A time with offset as given; a time without offset is read as the school's local time.

    A local time skipped when daylight saving starts is refused; one that happens twice when
    it ends (the repeated hour) is the first of the two, still on summer time."""
    if moment is None or moment.tzinfo is not None:
        return moment
    local = moment.replace(tzinfo=zone(time_zone), fold=0)
    if local.astimezone(UTC).astimezone(local.tzinfo).replace(tzinfo=None) != moment:
        raise InvalidInput(
            f"{moment.isoformat()} does not exist in {time_zone}: the clocks skip that hour "
            "when daylight saving time starts. Choose a time outside it."
        )
    return local
