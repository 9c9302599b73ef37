"""The ledger's reads of raw requests: the per-request log (cursor-paged) and time series.

The log reads the month partitions of its period only (the ``at`` bounds prune them) and pages
newest first along the ``(school_id, at)``, ``(key_id, at)`` or ``(at)`` index, so a page costs
the same however many requests the ledger holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from psycopg import sql

from infra.database import Pool
from services.ledger.domain.scope import Filters
from services.ledger.domain.timeline import Cursor

# The widest offsets from UTC (UTC-12 and UTC+14), plus room: a school's local day lies
# within these bounds of the UTC day of the same date.
_WEST, _EAST = timedelta(hours=13), timedelta(hours=15)

LOG_COLUMNS = sql.SQL(
    "request_id, at, day, key_id, user_id, school_id, group_id, model, chat_id,"
    " prompt_tokens AS input_tokens, completion_tokens AS output_tokens, cached_tokens,"
    " cost_micro_usd, status, stream, latency_ms, estimated"
)


@dataclass(frozen=True)
class RawFilters:
    """What only raw requests know, beyond the rollups' filters."""

    chat_id: UUID | None = None
    status: int | None = None


def instant_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """UTC instants that surely contain the local days ``start`` to ``end`` of any zone."""
    first = datetime.combine(start, time(), UTC) - _EAST
    last = datetime.combine(end + timedelta(days=1), time(), UTC) + _WEST
    return first, last


def where(f: Filters, raw: RawFilters) -> tuple[sql.Composable, dict[str, Any]]:
    """The WHERE clause of raw requests for these filters (days in the schools' time)."""
    first, last = instant_bounds(f.period.start, f.period.end)
    clauses: list[sql.Composable] = [
        sql.SQL("day BETWEEN %(start)s AND %(end)s AND at >= %(first)s AND at < %(last)s")
    ]
    params: dict[str, Any] = {"start": f.period.start, "end": f.period.end}
    params |= {"first": first, "last": last}
    if f.schools is not None:
        clauses.append(sql.SQL("school_id = ANY(%(schools)s)"))
        params["schools"] = sorted(f.schools)
    given = {
        "school_id": f.school_id,
        "group_id": f.group_id,
        "user_id": f.user_id,
        "key_id": f.key_id,
        "model": f.model,
        "chat_id": raw.chat_id,
        "status": raw.status,
    }
    for column, value in given.items():
        if value is not None:
            clauses.append(sql.SQL("{} = %({})s").format(sql.Identifier(column), sql.SQL(column)))
            params[column] = value
    return sql.SQL(" AND ").join(clauses), params


async def request_log(
    pool: Pool, f: Filters, raw: RawFilters, after: Cursor | None, limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` requests, newest first, after the cursor (one more tells if there is
    a next page)."""
    clause, params = where(f, raw)
    if after is not None:
        clause = sql.SQL("{} AND (at, request_id) < (%(after_at)s, %(after_id)s)").format(clause)
        params |= {"after_at": after.at, "after_id": after.request_id}
    query = sql.SQL(
        "SELECT {columns} FROM requests WHERE {where}"
        " ORDER BY at DESC, request_id DESC LIMIT %(limit)s"
    ).format(columns=LOG_COLUMNS, where=clause)
    async with pool.connection() as conn:
        cursor = await conn.execute(query, params | {"limit": limit})
        return list(await cursor.fetchall())


_SERIES_METRICS = sql.SQL(
    "count(*)::bigint AS requests, sum(prompt_tokens)::bigint AS input_tokens,"
    " sum(completion_tokens)::bigint AS output_tokens,"
    " sum(cached_tokens)::bigint AS cached_tokens, sum(cost_micro_usd)::bigint AS cost_micro_usd"
)


async def raw_series(
    pool: Pool, f: Filters, raw: RawFilters, zones: dict[str, str], hourly: bool
) -> list[dict[str, Any]]:
    """Totals per local day (or local hour: a naive timestamp in the school's zone) from the
    raw requests, for questions the rollups cannot answer (a chat, a status, hours)."""
    clause, params = where(f, raw)
    bucket = sql.SQL(
        "date_trunc('hour', at AT TIME ZONE coalesce(z.zone, 'UTC'))" if hourly else "day"
    )
    query = sql.SQL(
        "SELECT {bucket} AS bucket, {metrics} FROM requests"
        " LEFT JOIN unnest(%(zone_schools)s::text[], %(zone_names)s::text[]) AS z(school, zone)"
        " ON z.school = requests.school_id WHERE {where} GROUP BY 1 ORDER BY 1"
    ).format(bucket=bucket, metrics=_SERIES_METRICS, where=clause)
    params |= {"zone_schools": list(zones), "zone_names": list(zones.values())}
    async with pool.connection() as conn:
        cursor = await conn.execute(query, params)
        return list(await cursor.fetchall())
