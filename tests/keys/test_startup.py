"""A start-up step that fails closes what the steps before it opened (infra/lifespan.py)."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from services.keys.app import create_app
from tests.keys.conftest import Clock, settings_for


async def sessions_of_others(database_url: str) -> int:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        row = await cursor.fetchone()
        return int(row[0]) if row else 0


async def test_a_failing_stream_set_up_closes_the_pool_it_opened_before(
    database_url: str, nats_url: str
) -> None:
    # Three stream replicas on a single NATS server: ensure_streams fails after the pool
    # and the NATS connection are open.
    app = create_app(settings_for(database_url, nats_url, stream_replicas=3), clock=Clock())
    with pytest.raises(Exception, match=r"(?i)replica|cluster|resources") as failed:
        async with app.router.lifespan_context(app):
            pytest.fail("the keys service must not run when its start-up failed")
    # ``failed`` holds the traceback, so a pool that start-up left open is still alive here
    # (not yet closed by the garbage collector): its sessions would still be counted.
    for _ in range(200):  # a closed connection's backend exits just after
        if (left := await sessions_of_others(database_url)) == 0:
            break
        await asyncio.sleep(0.05)
    assert left == 0, f"start-up failed ({failed.value!r}) but left {left} sessions open"
