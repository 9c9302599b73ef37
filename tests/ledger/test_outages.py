"""The ledger outlives PostgreSQL going away and idles quietly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from nats.js import JetStreamContext
from structlog.testing import capture_logs

from infra.database import open_pool
from infra.embedded import EmbeddedPostgres
from tests.ledger.conftest import (
    ALICE,
    BOB,
    Ledger,
    directory_events,
    publish,
    run_ledger,
    settings_for,
)


@pytest.fixture
async def ledger_on_own_pg(
    own_pg: EmbeddedPostgres, nats_url: str, js: JetStreamContext
) -> AsyncIterator[Ledger]:
    await publish(js, directory_events())
    settings = settings_for(own_pg.create_database("ledger"), nats_url)
    async with run_ledger(settings, js) as running:
        yield running


async def wait_for_readyz(client: httpx.AsyncClient, status: int, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while (await client.get("/readyz")).status_code != status:
            await asyncio.sleep(0.05)


async def test_an_idle_ledger_logs_no_error(ledger: Ledger) -> None:
    with capture_logs() as logs:
        await asyncio.sleep(3.5)  # a few of the consumer's 1 s idle fetch time-outs
    assert [e for e in logs if e["log_level"] in ("error", "critical")] == []
    assert (await ledger.client.get("/readyz")).status_code == 200


async def test_usage_metered_while_postgresql_is_down_is_ingested_after_it_returns(
    ledger_on_own_pg: Ledger, own_pg: EmbeddedPostgres, js: JetStreamContext
) -> None:
    ledger = ledger_on_own_pg
    url = own_pg.url("ledger")
    await publish(js, [ALICE.metered(100) for _ in range(5)])
    await ledger.wait_ingested(5)
    await ledger.pool.close()  # the test's own pool would wait out the restart

    own_pg.stop()
    await publish(js, [BOB.metered(7) for _ in range(9)])
    await wait_for_readyz(ledger.client, 503, timeout=15)
    own_pg.start()
    await wait_for_readyz(ledger.client, 200, timeout=30)

    ledger.pool = await open_pool(url, "ledger", max_size=2)
    await ledger.wait_ingested(14)
    assert await ledger.total("cost_micro_usd") == 5 * 100 + 9 * 7
