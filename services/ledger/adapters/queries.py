"""The ledger's reads: reports aggregate the daily rollup, never the raw requests."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection, sql
from psycopg.rows import DictRow, tuple_row

from infra.database import Pool
from services.ledger.domain.rows import add_months, month_of
from services.ledger.domain.scope import Dimension, Filters, Period

# Columns a report groups by; a key fixes its user, school and group, so they cost nothing.
GROUP_BY: dict[Dimension, tuple[str, ...]] = {
    "user": ("user_id",),
    "key": ("key_id", "user_id", "school_id", "group_id"),
    "group": ("group_id", "school_id"),
    "school": ("school_id",),
    "model": ("model",),
    "day": ("day",),
    "user_model": ("user_id", "model"),
    "group_day": ("group_id", "school_id", "day"),
}

_METRICS = sql.SQL(
    "sum(requests)::bigint AS requests, sum(prompt_tokens)::bigint AS input_tokens,"
    " sum(completion_tokens)::bigint AS output_tokens,"
    " sum(cached_tokens)::bigint AS cached_tokens,"
    " sum(cost_micro_usd)::bigint AS cost_micro_usd, sum(chats)::bigint AS chats,"
    " min(first_at) AS first_use, max(last_at) AS last_use"
)


_PERIOD = sql.SQL("day BETWEEN %(start)s AND %(end)s")


def _where(f: Filters, by: Dimension) -> tuple[list[sql.Composable], dict[str, Any]]:
    """The filter's conditions on a rollup but its period, and the values of all."""
    clauses: list[sql.Composable] = []
    params: dict[str, Any] = {"start": f.period.start, "end": f.period.end}
    if f.schools is not None:
        clauses.append(sql.SQL("school_id = ANY(%(schools)s)"))
        params["schools"] = sorted(f.schools)
    for column in ("school_id", "group_id", "user_id", "key_id", "model"):
        value = getattr(f, column)
        if value is not None:
            clauses.append(sql.SQL("{} = %({})s").format(sql.Identifier(column), sql.SQL(column)))
            params[column] = value
    if by in ("group", "group_day"):
        clauses.append(sql.SQL("group_id IS NOT NULL"))
    return clauses, params


def _all(clauses: list[sql.Composable]) -> sql.Composable:
    return sql.SQL(" AND ").join(clauses)


def _rollup(by: Dimension, f: Filters) -> str:
    # Per school and day, when the question names nothing finer: the smallest rollup.
    finer = (f.group_id, f.user_id, f.key_id, f.model)
    if by in ("school", "day") and all(v is None for v in finer):
        return "daily_school_usage"
    # Without a key or a user in the question, the much smaller per-group rollup answers.
    if (
        by in ("group", "school", "model", "day", "group_day")
        and f.user_id is None
        and f.key_id is None
    ):
        return "daily_group_usage"
    return "daily_usage"


# The rollups whose sealed months are also kept per month (sealing.py).
_MONTHLY = {"daily_usage": "monthly_usage", "daily_group_usage": "monthly_group_usage"}
_TOTALS = sql.SQL(
    "requests, prompt_tokens, completion_tokens, cached_tokens, cost_micro_usd, chats,"
    " first_at, last_at"
)


def whole_months(period: Period, sealed_before: date) -> tuple[date, date] | None:
    """The first day of the period's first whole sealed month and the day after its last."""
    first = period.start if period.start.day == 1 else add_months(month_of(period.start), 1)
    after = add_months(month_of(period.end), 1)
    end = after if period.end == after - timedelta(days=1) else month_of(period.end)
    end = min(end, sealed_before)
    return (first, end) if first < end else None


async def usage(pool: Pool, by: Dimension, f: Filters) -> list[dict[str, Any]]:
    """Totals per ``by`` over the filtered rollup rows, ordered by ``by``."""
    columns, rows = await usage_table(pool, by, f)
    return [dict(zip(columns, row, strict=True)) for row in rows]


async def usage_table(
    pool: Pool, by: Dimension, f: Filters
) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """``usage`` as its column names and rows of values: no dict per row (a year of a
    school's groups x days is 7 300 rows, and a dict of each was a quarter of fetching them)."""
    filters, params = _where(f, by)
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in GROUP_BY[by])
    table = _rollup(by, f)
    async with pool.connection() as conn:
        months = None
        if table in _MONTHLY and by not in ("day", "group_day"):
            months = whole_months(f.period, await _sealed_before(conn))
        source: sql.Composable = sql.Identifier(table)
        where = _all([_PERIOD, *filters])
        if months is not None:
            # Whole sealed months from the monthly rollup, the other days from the daily one.
            source, where = _with_months(table, columns, filters, f.period, months), sql.SQL("true")
            params |= {"months_start": months[0], "months_end": months[1]}
        query = sql.SQL(
            "SELECT {columns}, {metrics} FROM {source} AS u WHERE {where}"
            " GROUP BY {columns} ORDER BY {columns}"
        ).format(columns=columns, metrics=_METRICS, source=source, where=where)
        # Binary results: bigints, texts, days and timestamps, each read without parsing.
        cursor = conn.cursor(row_factory=tuple_row, binary=True)
        rows = await (await cursor.execute(query, params)).fetchall()
        return tuple(c.name for c in cursor.description or ()), rows


async def _sealed_before(conn: AsyncConnection[DictRow]) -> date:
    cursor = await conn.execute("SELECT sealed_before FROM rollup_seal")
    row = await cursor.fetchone()
    return row["sealed_before"] if row else date.min


def _with_months(
    table: str,
    columns: sql.Composable,
    filters: list[sql.Composable],
    period: Period,
    months: tuple[date, date],
) -> sql.Composable:
    """The daily rows outside the period's whole sealed months, and those months' rows."""
    # Up to two day ranges, not one range with a hole: each walks the rollup's index.
    days: list[sql.Composable] = []
    if period.start < months[0]:
        days.append(sql.SQL("(day >= %(start)s AND day < %(months_start)s)"))
    if months[1] <= period.end:
        days.append(sql.SQL("(day >= %(months_end)s AND day <= %(end)s)"))
    monthly = sql.SQL(
        "SELECT {columns}, {totals} FROM {table}"
        " WHERE month >= %(months_start)s AND month < %(months_end)s AND {filters}"
    ).format(
        columns=columns,
        totals=_TOTALS,
        table=sql.Identifier(_MONTHLY[table]),
        filters=_all([sql.SQL("true"), *filters]),
    )
    if not days:
        return sql.SQL("({})").format(monthly)
    daily = sql.SQL("SELECT {columns}, {totals} FROM {table} WHERE ({days}) AND {filters}").format(
        columns=columns,
        totals=_TOTALS,
        table=sql.Identifier(table),
        days=sql.SQL(" OR ").join(days),
        filters=_all([sql.SQL("true"), *filters]),
    )
    return sql.SQL("({} UNION ALL {})").format(daily, monthly)


async def key_chats(pool: Pool, key_id: UUID, limit: int) -> list[dict[str, Any]]:
    """A key's chats, most recently active first."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT chat_id, title, model, user_id, created_at, first_at, last_at, requests,"
            " prompt_tokens AS input_tokens, completion_tokens AS output_tokens,"
            " cost_micro_usd FROM chats WHERE key_id = %s"
            " ORDER BY last_at DESC NULLS LAST, created_at DESC LIMIT %s",
            (key_id, limit),
        )
        return list(await cursor.fetchall())


async def chat(pool: Pool, chat_id: UUID) -> dict[str, Any] | None:
    """One chat's row (with its school, for the scope check), or None."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT chat_id, key_id, school_id, first_at, last_at FROM chats WHERE chat_id = %s",
            (chat_id,),
        )
        return await cursor.fetchone()


async def chat_requests(pool: Pool, found: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """A chat's requests in time order; the chat's activity window prunes the partitions."""
    if found["first_at"] is None:
        return []
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT request_id, at, model, prompt_tokens AS input_tokens,"
            " completion_tokens AS output_tokens, cached_tokens, cost_micro_usd, status,"
            " stream, latency_ms, estimated FROM requests"
            " WHERE chat_id = %s AND at BETWEEN %s AND %s ORDER BY at LIMIT %s",
            (found["chat_id"], found["first_at"], found["last_at"], limit),
        )
        return list(await cursor.fetchall())


async def totals_per_key(pool: Pool) -> dict[UUID, tuple[int, int, str]]:
    """Every key's all-time (requests, cost_micro_usd, school_id) from the rollup."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT key_id, sum(requests)::bigint AS requests,"
            " sum(cost_micro_usd)::bigint AS cost, min(school_id) AS school_id"
            " FROM daily_usage GROUP BY key_id"
        )
        return {
            row["key_id"]: (int(row["requests"]), int(row["cost"]), str(row["school_id"]))
            for row in await cursor.fetchall()
        }


async def used_since(pool: Pool, since: dict[UUID, date]) -> dict[UUID, int]:
    """Each key's cost (micro-USD) from its school day ``since`` on, to now."""
    if not since:
        return {}
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT u.key_id, sum(u.cost_micro_usd)::bigint AS cost FROM daily_usage u"
            " JOIN unnest(%s::uuid[], %s::date[]) AS p(key_id, since)"
            " ON u.key_id = p.key_id AND u.day >= p.since GROUP BY u.key_id",
            (list(since), list(since.values())),
        )
        return {row["key_id"]: int(row["cost"]) for row in await cursor.fetchall()}
