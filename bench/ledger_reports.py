"""Many requests for the report benchmark, generated in SQL.

Used by ``bench.ledger_ingest`` (which starts the servers). Raw requests are generated for one
year (10 schools x 20 groups x 25 students, 3 models, uniformly random: the worst case for the
rollups) and rolled up exactly as the consumer does; every fourth belongs to a chat (one per
key and week: these fall in the even schools). ``bench.ledger_endpoints`` then times the
reporting API over them.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

from infra.database import Pool
from services.ledger.adapters.store import ensure_partitions
from services.ledger.domain.rows import add_months, month_of
from services.ledger.usecases.sealing import seal_months

YEAR_END = date(2026, 11, 30)
YEAR_START = YEAR_END - timedelta(days=364)

# Even schools are in Amsterdam, odd ones in New York: each request's day is its school's.
_GENERATE = """
INSERT INTO requests (request_id, at, key_id, user_id, school_id, group_id, model, chat_id,
    prompt_tokens, completion_tokens, cached_tokens, cost_micro_usd, estimated, status, stream,
    latency_ms, gateway_id, day)
SELECT gen_random_uuid(), at, key_id, user_id, school_id, group_id, model,
    CASE WHEN n %% 4 = 0 THEN md5(key_id::text || date_trunc('week', at)::text)::uuid END,
    900, 150, 0, 1234, false, CASE WHEN n %% 50 = 0 THEN 502 ELSE 200 END, true, 800, 'bench',
    (at AT TIME ZONE (CASE WHEN s %% 2 = 0 THEN 'Europe/Amsterdam' ELSE 'America/New_York' END)
    )::date
FROM (SELECT n, s, %(start)s::timestamptz + random() * interval '365 days' AS at,
    ('00000000-0000-0000-0000-' || lpad(to_hex(s * 1000 + g * 25 + u + 1), 12, '0'))::uuid
        AS key_id,
    'u-' || s || '-' || g || '-' || u AS user_id, 'school-' || s AS school_id,
    'group-' || s || '-' || g AS group_id, (ARRAY['small', 'medium', 'large'])[1 + n %% 3] AS model
    FROM (SELECT n, n %% 10 AS s, n / 10 %% 20 AS g, (random() * 24)::int AS u
          FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS n) AS t) AS r
"""
_ROLL_UP = """
INSERT INTO daily_usage (day, key_id, model, user_id, school_id, group_id, requests,
    prompt_tokens, completion_tokens, cached_tokens, cost_micro_usd, first_at, last_at)
SELECT day, key_id, model, min(user_id), min(school_id),
    min(group_id), count(*), sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens),
    sum(cost_micro_usd), min(at), max(at)
FROM requests GROUP BY 1, 2, 3;
INSERT INTO daily_group_usage (day, school_id, group_id, model, requests, prompt_tokens,
    completion_tokens, cached_tokens, cost_micro_usd, first_at, last_at)
SELECT day, school_id, group_id, model, sum(requests), sum(prompt_tokens),
    sum(completion_tokens), sum(cached_tokens), sum(cost_micro_usd), min(first_at), max(last_at)
FROM daily_usage GROUP BY 1, 2, 3, 4;
INSERT INTO daily_school_usage (day, school_id, requests, prompt_tokens, completion_tokens,
    cached_tokens, cost_micro_usd, first_at, last_at)
SELECT day, school_id, sum(requests), sum(prompt_tokens), sum(completion_tokens),
    sum(cached_tokens), sum(cost_micro_usd), min(first_at), max(last_at)
FROM daily_group_usage GROUP BY 1, 2;
INSERT INTO chats (chat_id, key_id, user_id, school_id, group_id, model, title, created_at,
    created_day, requests, prompt_tokens, completion_tokens, cached_tokens, cost_micro_usd,
    first_at, last_at)
SELECT chat_id, min(key_id::text)::uuid, min(user_id), min(school_id), min(group_id),
    min(model), 'chat ' || left(chat_id::text, 8), min(at), min(day), count(*),
    sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens), sum(cost_micro_usd),
    min(at), max(at)
FROM requests WHERE chat_id IS NOT NULL GROUP BY chat_id
"""
_TABLES = "requests, daily_usage, daily_group_usage, daily_school_usage, chats"


async def generate(pool: Pool, count: int) -> None:
    """Fill the ledger with ``count`` requests, unless this database already holds them."""
    async with pool.connection() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS public.bench_generated (requests bigint)")
        cursor = await conn.execute("SELECT requests FROM public.bench_generated")
        if (await cursor.fetchone() or {}).get("requests") == count:
            print(f"reusing {count:,} generated requests")
            return
    started = time.perf_counter()
    await ensure_partitions(pool, [add_months(month_of(YEAR_START), n) for n in range(13)])
    async with pool.connection() as conn:
        await conn.execute(f"TRUNCATE {_TABLES}, public.bench_generated")
        await conn.commit()
        for first in range(0, count, 1_000_000):
            last = min(first + 1_000_000, count) - 1
            start = datetime.combine(YEAR_START, datetime.min.time(), UTC)
            await conn.execute(_GENERATE, {"start": start, "first": first, "last": last})
            await conn.commit()
        await conn.execute(_ROLL_UP)
        await conn.execute("INSERT INTO public.bench_generated VALUES (%s)", (count,))
        await conn.commit()
        await conn.set_autocommit(True)
        await conn.execute(f"VACUUM ANALYZE {_TABLES}")
        await conn.set_autocommit(False)
        cursor = await conn.execute("SELECT count(*) AS n FROM daily_usage")
        rows = (await cursor.fetchone() or {"n": 0})["n"]
    elapsed = time.perf_counter() - started
    print(f"generated {count:,} requests ({rows:,} rollup rows) in {elapsed:.0f} s")


async def seal(pool: Pool) -> None:
    """Seal the months that are over, as the ledger's maintenance does (once per month)."""
    started = time.perf_counter()
    months = await seal_months(pool, date.today())
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        await conn.execute("VACUUM ANALYZE monthly_usage, monthly_group_usage")
        cursor = await conn.execute("SELECT count(*) AS n FROM monthly_usage")
        rows = (await cursor.fetchone() or {"n": 0})["n"]
    elapsed = time.perf_counter() - started
    print(f"sealed {len(months)} months ({rows:,} monthly rollup rows) in {elapsed:.1f} s")
