"""PostgreSQL: a pool per service schema and numbered SQL migrations."""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

Pool = AsyncConnectionPool[AsyncConnection[DictRow]]


def _schema_options(schema: str, time_zone: str | None = None) -> str:
    zone = f" -c TimeZone={time_zone}" if time_zone else ""
    return f"-c search_path={schema},public{zone}"


async def open_pool(
    url: str, schema: str, max_size: int = 10, time_zone: str | None = None
) -> Pool:
    """An open pool whose connections see the service's own schema first (and run in
    ``time_zone``, when given, instead of the server's)."""
    pool = Pool(
        url,
        connection_class=AsyncConnection[DictRow],
        min_size=1,
        max_size=max_size,
        kwargs={"options": _schema_options(schema, time_zone), "row_factory": dict_row},
        # After a PostgreSQL restart the idle connections are dead: checked before use,
        # they are replaced instead of failing the next request.
        check=Pool.check_connection,
        # With PostgreSQL away a caller fails after this long rather than 30 s: a request
        # gets its error sooner, and a background task reports the outage (readiness red).
        timeout=5,
        open=False,
    )
    await pool.open(wait=True, timeout=30)
    return pool


async def migrate(url: str, schema: str, sql_dir: Path) -> list[str]:
    """Apply ``sql_dir/NNN_*.sql`` not yet applied to ``schema``, each in one transaction."""
    applied: list[str] = []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        # One migrator at a time: two replicas starting together must not race.
        await conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"migrate:{schema}",))
        try:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            await conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations '
                "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = await conn.execute(f'SELECT name FROM "{schema}".schema_migrations')
            seen = {row[0] for row in await done.fetchall()}
            for path in sorted(sql_dir.glob("*.sql")):
                if path.name in seen:
                    continue
                async with conn.transaction():
                    await conn.execute(f'SET LOCAL search_path TO "{schema}", public')
                    await conn.execute(path.read_text().encode())
                    await conn.execute(
                        f'INSERT INTO "{schema}".schema_migrations (name) VALUES (%s)',
                        (path.name,),
                    )
                applied.append(path.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (f"migrate:{schema}",))
    return applied
