"""The ledger outlives PostgreSQL going away and idles quietly."""

from __future__ import annotations

import asyncio
import uuid
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
    TOKEN_A,
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


async def test_a_poison_event_is_dead_lettered_and_the_rest_flows_on(
    ledger: Ledger, js: JetStreamContext
) -> None:
    before = await ledger.get("/metrics")
    chat = uuid.uuid4()
    poison = ALICE.chat(chat, "fix\u0000this")  # PostgreSQL cannot store a NUL in text
    await publish(js, [ALICE.metered(100), poison, *(BOB.metered(7) for _ in range(20))])
    await publish(js, [raw_garbage := BOB.metered(1)])
    await js.publish("coding.usage.request_metered", b"{not json", headers={"Nats-Msg-Id": "x"})
    await ledger.wait_ingested(22)
    await ledger.consumer_settled()

    assert await ledger.total("cost_micro_usd") == 100 + 20 * 7 + raw_garbage.cost_micro_usd
    letters = (await ledger.get("/dead-letters")).json()
    assert [letter["sequence"] for letter in letters] == [24, 2]
    assert letters[0]["error"].startswith("unreadable event")
    assert letters[1]["error"].startswith("CharacterNotInRepertoire")
    assert str(chat) in letters[1]["payload"] and "\\u0000" in letters[1]["payload"]
    assert dead_letter_count(await ledger.get("/metrics")) == dead_letter_count(before) + 2
    assert (await ledger.client.get("/readyz")).status_code == 200
    # A scoped administrator may not read them: they hold every school's usage.
    assert (await ledger.get("/dead-letters", token=TOKEN_A)).status_code == 403


def dead_letter_count(metrics: httpx.Response) -> float:
    for line in metrics.text.splitlines():
        if line.startswith('ledger_usage_events_total{outcome="dead_letter"}'):
            return float(line.split()[-1])
    return 0.0
