"""The ledger's writes: a batch of usage events in one transaction, and the month partitions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import DictRow

from infra.database import Pool
from services.ledger.domain.rows import (
    CHAT_COLUMNS,
    REQUEST_COLUMNS,
    Batch,
    add_months,
    chat_columns,
    partition_month,
    partition_name,
    request_columns,
)

_TYPES = {
    "request_id": "uuid",
    "at": "timestamptz",
    "key_id": "uuid",
    "chat_id": "uuid",
    "prompt_tokens": "bigint",
    "completion_tokens": "bigint",
    "cached_tokens": "bigint",
    "cost_micro_usd": "bigint",
    "estimated": "boolean",
    "status": "integer",
    "stream": "boolean",
    "latency_ms": "bigint",
    "day": "date",
}


def _unnest(columns: tuple[str, ...]) -> str:
    return ", ".join(f"%b::{_TYPES.get(c, 'text')}[]" for c in columns)


def _unnest_rows(columns: tuple[str, ...]) -> str:
    # Request rows carry their ids as text (decode.py): PostgreSQL parses them.
    return ", ".join(
        f"%b::text[]::{_TYPES[c]}[]" if _TYPES.get(c) == "uuid" else _unnest((c,)) for c in columns
    )


# Each rollup: its key columns (the conflict target), and the attributes that ride along.
_ROLLUPS = {
    "daily_usage": (("key_id", "day", "model"), ("user_id", "school_id", "group_id")),
    "daily_group_usage": (("school_id", "day", "group_id", "model"), ()),
    "daily_school_usage": (("school_id", "day"), ()),
    "monthly_usage": (("key_id", "month", "model"), ("user_id", "school_id", "group_id")),
    "monthly_group_usage": (("school_id", "month", "group_id", "model"), ()),
}
_SEALED = "(SELECT sealed_before FROM rollup_seal)"
_SUMS = ("prompt_tokens", "completion_tokens", "cached_tokens", "cost_micro_usd")
_REQUEST_METRICS = {
    "requests": "count(*)",
    **{c: f"sum({c})" for c in _SUMS},
    "first_at": "min(at)",
    "last_at": "max(at)",
}
_ADD_REQUESTS = ", ".join(
    [f"{c} = r.{c} + excluded.{c}" for c in ("requests", *_SUMS)]
    + ["first_at = least(r.first_at, excluded.first_at)"]
    + ["last_at = greatest(r.last_at, excluded.last_at)"]
)


def _rollup(table: str, day: str, metrics: dict[str, str], add: str) -> str:
    """Fold the CTE ``new`` into a rollup table on the school's local ``day`` column; ORDER BY
    gives concurrent ledgers the same row-lock order, so two replicas never deadlock.

    A monthly rollup takes only the rows of sealed days (a request arriving late for them):
    the other days reach it when their month is sealed (sealing.py)."""
    keys, attributes = _ROLLUPS[table]
    month = f"date_trunc('month', {day})::date"
    expressions = [day if k == "day" else month if k == "month" else k for k in keys]
    positions = ", ".join(str(n + 1) for n in range(len(keys)))
    sealed = f" WHERE {day} < {_SEALED}" if "month" in keys else ""
    return (
        f"INSERT INTO {table} AS r ({', '.join(keys + attributes + tuple(metrics))})"
        f" SELECT {', '.join(expressions + [f'min({a})' for a in attributes])},"
        f" {', '.join(metrics.values())} FROM new{sealed} GROUP BY {positions}"
        f" ORDER BY {positions} ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {add}"
    )


def _rollups(day: str, metrics: dict[str, str], add: str) -> str:
    """The CTEs folding ``new`` into every rollup, daily and monthly."""
    return "".join(f", {t}_rows AS ({_rollup(t, day, metrics, add)})" for t in _ROLLUPS)


# One statement: the raw rows really inserted (RETURNING skips duplicates) feed the rollups
# and the chats' totals, so a replayed event changes no total.
_INSERT_REQUESTS = f"""
WITH new AS (
    INSERT INTO requests ({", ".join(REQUEST_COLUMNS)})
    SELECT * FROM unnest({_unnest_rows(REQUEST_COLUMNS)})
    ON CONFLICT DO NOTHING
    RETURNING *
){_rollups("day", _REQUEST_METRICS, _ADD_REQUESTS)}, chat_totals AS (
    INSERT INTO chats AS r (chat_id, key_id, user_id, school_id, group_id, model, requests,
        prompt_tokens, completion_tokens, cached_tokens, cost_micro_usd, first_at, last_at)
    SELECT chat_id, min(key_id::text)::uuid, min(user_id), min(school_id), min(group_id),
        min(model), {", ".join(_REQUEST_METRICS.values())}
    FROM new WHERE chat_id IS NOT NULL GROUP BY chat_id ORDER BY chat_id
    ON CONFLICT (chat_id) DO UPDATE SET {_ADD_REQUESTS}
)
SELECT count(*) AS inserted FROM new
"""

_CHATS = {"chats": "count(*)"}
_ADD_CHATS = "chats = r.chats + excluded.chats"

# A chat row may already exist (its first request came first); ChatCreated fills in the
# title once, and only that first time does it count a chat in the rollups.
_INSERT_CHATS = f"""
WITH new AS (
    INSERT INTO chats AS c (chat_id, key_id, user_id, school_id, group_id, model, title,
        created_at, created_day)
    SELECT * FROM unnest({_unnest(CHAT_COLUMNS)}) ORDER BY 1
    ON CONFLICT (chat_id) DO UPDATE SET title = excluded.title,
        created_at = excluded.created_at, model = excluded.model,
        created_day = excluded.created_day
    WHERE c.created_at IS NULL
    RETURNING chat_id, key_id, user_id, school_id, group_id, model, created_at, created_day
){_rollups("created_day", _CHATS, _ADD_CHATS)}
SELECT count(*) AS inserted FROM new
"""


@dataclass(frozen=True)
class Written:
    """How many events of a batch were new (the rest were duplicates)."""

    requests: int
    chats: int


async def write_batch(pool: Pool, batch: Batch) -> Written:
    """Write a batch in ONE transaction; duplicates (by request_id, chat_id) change nothing."""
    async with pool.connection() as conn, conn.transaction():
        # Held to the commit: a month is not sealed while this batch may still add to its days,
        # and a batch after the seal sees it and adds its late rows to the monthly rollups.
        await conn.execute("SELECT sealed_before FROM rollup_seal FOR SHARE")
        requests = chats = 0
        if batch.requests:
            requests = await _count(
                conn, _INSERT_REQUESTS, request_columns(batch.requests, batch.zone_of)
            )
        if batch.chats:
            chats = await _count(conn, _INSERT_CHATS, chat_columns(batch.chats, batch.zone_of))
        return Written(requests, chats)


async def _count(conn: AsyncConnection[DictRow], query: str, params: list[list[object]]) -> int:
    cursor = await conn.execute(query.encode(), params)
    row = await cursor.fetchone()
    return int(row["inserted"]) if row else 0


async def ensure_partitions(pool: Pool, months: Iterable[date]) -> None:
    """Create the raw-request partitions of these months if they are missing."""
    async with pool.connection() as conn:
        for month in sorted(set(months)):
            await conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} PARTITION OF requests"
                    " FOR VALUES FROM ({}) TO ({})"
                ).format(
                    sql.Identifier(partition_name(month)),
                    sql.Literal(f"{month.isoformat()} 00:00:00+00"),
                    sql.Literal(f"{add_months(month, 1).isoformat()} 00:00:00+00"),
                )
            )


async def drop_partitions_before(pool: Pool, oldest_kept: date) -> list[str]:
    """Drop raw-request partitions of months before ``oldest_kept``; return their names."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'requests'::regclass"
        )
        names = [str(row["relname"]) for row in await cursor.fetchall()]
        dropped = []
        for name in sorted(names):
            month = partition_month(name)
            if month is not None and month < oldest_kept:
                await conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
                dropped.append(name)
        return dropped


@dataclass(frozen=True)
class DeadLetter:
    """A USAGE message the ledger could not store, and why."""

    sequence: int
    subject: str
    payload: bytes
    error: str


async def record_dead_letters(pool: Pool, letters: Iterable[DeadLetter]) -> None:
    """Keep messages that cannot be ingested; a redelivered one is kept once."""
    async with pool.connection() as conn, conn.transaction():
        for letter in letters:
            await conn.execute(
                "INSERT INTO dead_letters (sequence, subject, payload, error)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (sequence) DO NOTHING",
                # The error may quote the refused text: no NUL may reach a text column.
                (letter.sequence, letter.subject, letter.payload, letter.error.replace("\0", "")),
            )


async def dead_letters(pool: Pool, limit: int) -> list[dict[str, Any]]:
    """The most recent dead letters, newest first."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT sequence, subject, payload, error, dead_at FROM dead_letters"
            " ORDER BY sequence DESC LIMIT %s",
            (limit,),
        )
        return list(await cursor.fetchall())
