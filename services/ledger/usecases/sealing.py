"""Sealing months: a month over in every school's time is summed into the monthly rollups.

Reports over long periods then read a row per key (or group) and model and month instead of
one per day. Exactness: sealing a month takes the seal row FOR UPDATE, so it waits for every
batch that is being written (each holds it FOR SHARE to its commit, store.py) and then sums
what they committed; a batch written after the seal sees the new ``sealed_before`` and adds
its rows for sealed days to the monthly rollups itself.
"""

from __future__ import annotations

from datetime import date, timedelta

from infra.database import Pool
from services.ledger.domain.rows import add_months, month_of

# Past the end of a month in UTC, some schools are still in it (UTC-12 and later).
_SCHOOL_DAY_MARGIN = timedelta(days=2)
_METRICS = (
    "sum(requests), sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens),"
    " sum(cost_micro_usd), sum(chats), min(first_at), max(last_at)"
)
_TOTALS = (
    "requests, prompt_tokens, completion_tokens, cached_tokens, cost_micro_usd, chats,"
    " first_at, last_at"
)
_SEAL_MONTH = (
    f"INSERT INTO monthly_usage (month, key_id, model, user_id, school_id, group_id, {_TOTALS})"
    f" SELECT %(month)s, key_id, model, min(user_id), min(school_id), min(group_id), {_METRICS}"
    " FROM daily_usage WHERE day >= %(month)s AND day < %(next)s GROUP BY key_id, model",
    f"INSERT INTO monthly_group_usage (month, school_id, group_id, model, {_TOTALS})"
    f" SELECT %(month)s, school_id, group_id, model, {_METRICS}"
    " FROM daily_group_usage WHERE day >= %(month)s AND day < %(next)s"
    " GROUP BY school_id, group_id, model",
    "UPDATE rollup_seal SET sealed_before = %(next)s",
)


def seal_target(today: date) -> date:
    """The first month not to seal yet: the one that holds the day before yesterday."""
    return month_of(today - _SCHOOL_DAY_MARGIN)


async def seal_months(pool: Pool, today: date) -> list[date]:
    """Seal every month that is over, one transaction each; return the months sealed."""
    sealed: list[date] = []
    while (month := await _seal_next(pool, seal_target(today))) is not None:
        sealed.append(month)
    return sealed


async def _seal_next(pool: Pool, target: date) -> date | None:
    async with pool.connection() as conn, conn.transaction():
        cursor = await conn.execute("SELECT sealed_before FROM rollup_seal FOR UPDATE")
        row = await cursor.fetchone()
        sealed_before: date = row["sealed_before"] if row else target
        if sealed_before >= target:
            return None
        cursor = await conn.execute(
            "SELECT min(day) AS first FROM daily_usage WHERE day >= %s", (sealed_before,)
        )
        first = (await cursor.fetchone() or {}).get("first")
        if first is None or month_of(first) >= target:
            # Nothing to sum before the target: the seal moves there at once.
            await conn.execute("UPDATE rollup_seal SET sealed_before = %s", (target,))
            return None
        month = month_of(first)
        for statement in _SEAL_MONTH:
            await conn.execute(statement, {"month": month, "next": add_months(month, 1)})
        return month
