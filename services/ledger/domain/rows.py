"""Usage events as ledger rows, and the month arithmetic of partitions and retention; pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from contracts.events import ChatCreated, EventBase, RequestMetered
from services.ledger.domain.decode import RequestRow, request_row

# The raw row as decoded, then the school day the ledger gives it.
REQUEST_COLUMNS = (*RequestRow._fields, "day")
CHAT_COLUMNS = (
    "chat_id",
    "key_id",
    "user_id",
    "school_id",
    "group_id",
    "model",
    "title",
    "at",
    "day",
)
ZoneOf = Callable[[str], ZoneInfo]
UTC_ZONE = ZoneInfo("UTC")


def utc_everywhere(school_id: str) -> ZoneInfo:
    """Every school in UTC: the zone lookup of a ledger that knows no directory."""
    return UTC_ZONE


@dataclass
class Batch:
    """The rows of one fetched batch, split by table; events older than retention are dropped."""

    requests: list[RequestRow] = field(default_factory=list)
    chats: list[ChatCreated] = field(default_factory=list)
    expired: int = 0
    zone_of: ZoneOf = utc_everywhere

    @property
    def months(self) -> set[date]:
        """First days of the months this batch writes raw rows into."""
        return {month_of(r.at) for r in self.requests}


def split(
    events: Iterable[EventBase | RequestRow],
    oldest_kept: date | None,
    zone_of: ZoneOf = utc_everywhere,
) -> Batch:
    """Sort usage events into a batch; a request before ``oldest_kept`` is counted, not kept.

    ``zone_of`` gives a school's time zone: rows are rolled up on the school's local day.
    """
    batch = Batch(zone_of=zone_of)
    for item in events:
        event = request_row(item) if isinstance(item, RequestMetered) else item
        if isinstance(event, RequestRow):
            if oldest_kept is not None and event.at.astimezone(UTC).date() < oldest_kept:
                # Its partition (and so its dedupe key) is gone: re-adding it would count it
                # twice in the rollups, which outlive the raw rows.
                batch.expired += 1
            else:
                batch.requests.append(event)
        elif isinstance(event, ChatCreated):
            batch.chats.append(event)
    return batch


def local_day(moment: datetime, school_id: str, zone_of: ZoneOf) -> date:
    """The day a moment falls on in the school's time zone."""
    return moment.astimezone(zone_of(school_id)).date()


def request_columns(
    requests: Sequence[RequestRow], zone_of: ZoneOf = utc_everywhere
) -> list[list[Any]]:
    """Column arrays (one list per column of ``REQUEST_COLUMNS``) for an ``unnest`` insert."""
    unique = list({(r.request_id, r.at): r for r in requests}.values())
    if not unique:
        return [[] for _ in REQUEST_COLUMNS]
    days = [local_day(r.at, r.school_id, zone_of) for r in unique]
    return [list(column) for column in zip(*unique, strict=True)] + [days]


def chat_columns(chats: Sequence[ChatCreated], zone_of: ZoneOf = utc_everywhere) -> list[list[Any]]:
    """Column arrays (one list per column of ``CHAT_COLUMNS``), one row per chat."""
    unique = list({c.chat_id: c for c in chats}.values())
    days = [local_day(c.at, c.school_id, zone_of) for c in unique]
    return [[getattr(c, name) for c in unique] for name in CHAT_COLUMNS[:-1]] + [days]


def month_of(moment: datetime | date) -> date:
    """The first day of the (UTC) month of a moment or a day."""
    day = moment.astimezone(UTC).date() if isinstance(moment, datetime) else moment
    return day.replace(day=1)


def add_months(month: date, count: int) -> date:
    """The first day of the month ``count`` months after ``month`` (negative: before)."""
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def oldest_kept_month(today: date, retention_months: int) -> date | None:
    """The first month still kept; None when retention is unlimited (0)."""
    if retention_months <= 0:
        return None
    return add_months(month_of(today), -(retention_months - 1))


def partition_name(month: date) -> str:
    """``requests_y2026m11``: the partition holding that month's raw requests."""
    return f"requests_y{month.year:04d}m{month.month:02d}"


def partition_month(name: str) -> date | None:
    """The month of a partition name, or None for a table that is not ours."""
    if len(name) != len("requests_y2026m11") or not name.startswith("requests_y"):
        return None
    try:
        return date(int(name[10:14]), int(name[15:17]), 1)
    except ValueError:
        return None


def months_to_create(today: date, ahead: int, retention_months: int) -> list[date]:
    """Months whose partitions should exist now: from the oldest kept (or this one) to ahead."""
    this = month_of(today)
    start = oldest_kept_month(today, retention_months) or this
    start = max(start, add_months(this, -1))
    span = (this.year - start.year) * 12 + this.month - start.month + ahead
    return [add_months(start, n) for n in range(span + 1)]
