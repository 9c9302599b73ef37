"""The ledger's reads: reports aggregate the daily rollup, never the raw requests."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal
from uuid import UUID

from psycopg import sql

from infra.database import Pool
from services.ledger.scope import Filters

Dimension = Literal["user", "key", "group", "school", "model", "day", "user_model", "group_day"]

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


def _where(f: Filters, by: Dimension) -> tuple[sql.Composable, dict[str, Any]]:
    clauses: list[sql.Composable] = [sql.SQL("day BETWEEN %(start)s AND %(end)s")]
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
    return sql.SQL(" AND ").join(clauses), params


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


async def usage(pool: Pool, by: Dimension, f: Filters) -> list[dict[str, Any]]:
    """Totals per ``by`` over the filtered rollup rows, ordered by ``by``."""
    where, params = _where(f, by)
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in GROUP_BY[by])
    query = sql.SQL(
        "SELECT {columns}, {metrics} FROM {table} WHERE {where}"
        " GROUP BY {columns} ORDER BY {columns}"
    ).format(columns=columns, metrics=_METRICS, table=sql.Identifier(_rollup(by, f)), where=where)
    async with pool.connection() as conn:
        cursor = await conn.execute(query, params)
        return list(await cursor.fetchall())


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
