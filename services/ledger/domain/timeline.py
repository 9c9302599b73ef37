"""Rows of the per-request log and points of a time series, zero-filled; pure."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from contracts.money import usd_text
from services.ledger.domain.projection import KeysView
from services.ledger.domain.reports import with_names
from services.ledger.errors import InvalidParameter

LOG_COLUMNS = (
    "request_id",
    "at",
    "local_at",
    "day",
    "time_zone",
    "school_id",
    "school_name",
    "group_id",
    "group_name",
    "user_id",
    "user_name",
    "key_id",
    "key_hint",
    "model",
    "chat_id",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_usd",
    "cost_micro_usd",
    "latency_ms",
    "status",
    "stream",
    "estimated",
)
SERIES_METRICS = ("requests", "input_tokens", "output_tokens", "cached_tokens", "cost_micro_usd")
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the last row's time and request id (pages go newest first)."""

    at: datetime
    request_id: UUID


def log_rows(rows: Iterable[Mapping[str, Any]], view: KeysView) -> list[dict[str, Any]]:
    """Raw requests with names, cost in dollars, and the time as the school's clock read it."""
    out = []
    for row in rows:
        named = with_names(row, view)
        named["local_at"] = row["at"].astimezone(view.time_zone(row["school_id"]))
        out.append({c: named.get(c) for c in LOG_COLUMNS})
    return out


def encode_cursor(row: Mapping[str, Any]) -> str:
    """An opaque cursor pointing after ``row``."""
    text = f"{row['at'].isoformat()}|{row['request_id']}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Cursor:
    """The position a cursor points after; 422 for a cursor we did not make."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, request_id = text.split("|")
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError(at)
        return Cursor(moment, UUID(request_id))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidParameter(
            "'cursor' is not a cursor this API returned.", field="query.cursor"
        ) from None


def buckets(start: date, end: date, hourly: bool) -> list[date | datetime]:
    """Every day (or local hour, naive) from ``start`` to ``end``, both days included."""
    if not hourly:
        return [start + timedelta(days=n) for n in range((end - start).days + 1)]
    first = datetime.combine(start, datetime.min.time())
    return [first + n * HOUR for n in range(((end - start).days + 1) * 24)]


def fill(
    found: Iterable[Mapping[str, Any]], start: date, end: date, hourly: bool, label: str
) -> list[dict[str, Any]]:
    """One point per day or hour of the period, zero where nothing was used."""
    by_bucket = {row["bucket"]: row for row in found}
    zero = dict.fromkeys(SERIES_METRICS, 0)
    points = []
    for bucket in buckets(start, end, hourly):
        row = by_bucket.get(bucket, zero)
        sums = {m: int(row[m] or 0) for m in SERIES_METRICS}
        cost = usd_text(sums["cost_micro_usd"])
        points.append({label: bucket, **sums, "cost_usd": cost})
    return points
