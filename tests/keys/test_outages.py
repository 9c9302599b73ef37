"""The keys service outlives a PostgreSQL restart: its relay says so, recovers, and a key
revoked afterwards still reaches KEYS (so every gateway refuses it)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from nats.aio.client import Client
from structlog.testing import capture_logs

from contracts.codec import decode
from contracts.events import KeyRevoked
from contracts.streams import KEYS
from infra.embedded import EmbeddedPostgres
from tests.keys.conftest import DIRECTORY, Clock, Keys, settings_for, start_keys


@pytest.fixture
async def keys_on_own_pg(own_pg: EmbeddedPostgres, nats_url: str) -> AsyncIterator[Keys]:
    """The keys service, seeded, on a PostgreSQL this test may stop."""
    settings = settings_for(own_pg.create_database("keys"), nats_url)
    async for keys in start_keys(settings, Clock()):
        assert (await keys.call("POST", "/directory", json=DIRECTORY)).status_code == 200
        yield keys


async def wait_for_readyz(http: httpx.AsyncClient, status: int, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while (await http.get("/readyz")).status_code != status:
            await asyncio.sleep(0.05)


async def wait_until_waiting_for(http: httpx.AsyncClient, condition: str, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while condition not in (await http.get("/readyz")).json().get("waiting_for", []):
            await asyncio.sleep(0.05)


async def revoked_in_keys(nc: Client, key_id: uuid.UUID) -> bool:
    js = nc.jetstream()
    last = (await js.stream_info(KEYS.name)).state.last_seq
    for seq in range(last, 0, -1):
        event = decode((await js.get_msg(KEYS.name, seq)).data or b"")
        if isinstance(event, KeyRevoked) and event.key_id == key_id:
            return True
    return False


async def test_a_key_revoked_after_a_postgresql_restart_reaches_keys_and_readyz_tells(
    keys_on_own_pg: Keys, own_pg: EmbeddedPostgres, nats_client: Client
) -> None:
    keys = keys_on_own_pg
    created = await keys.call("POST", "/users/s1/keys", json={"budget_usd": "5.00"})
    assert created.status_code == 201, created.text
    key_id = uuid.UUID(created.json()["key_id"])

    with capture_logs() as logs:
        own_pg.stop()
        await wait_until_waiting_for(keys.http, "relay", timeout=15)
        own_pg.start()
        await wait_for_readyz(keys.http, 200, timeout=30)
    failed = {entry.get("task") for entry in logs if entry["event"] == "background_task_failed"}
    assert "keys-relay" in failed

    revoked = await keys.call("POST", f"/keys/{key_id}/revoke", json={"reason": "lost"})
    assert revoked.status_code == 200, revoked.text
    async with asyncio.timeout(5):
        while not await revoked_in_keys(nats_client, key_id):
            await asyncio.sleep(0.05)


async def test_while_postgresql_is_down_a_write_answers_503_and_changes_nothing(
    keys_on_own_pg: Keys, own_pg: EmbeddedPostgres
) -> None:
    keys = keys_on_own_pg
    before = await keys.event_count()
    own_pg.stop()
    try:
        with capture_logs() as logs:
            refused = await keys.call("POST", "/users/s1/keys", json={"budget_usd": "5.00"})
    finally:
        own_pg.start()
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "5"
    assert refused.headers["content-type"].startswith("application/problem+json")
    detail = refused.json()["detail"]
    assert detail.startswith("The database cannot be reached just now; nothing was changed.")
    # Neither the answer nor the log names the server, its socket or the SQL.
    port = str(own_pg.port)
    assert port not in refused.text and "connection" not in refused.text.lower()
    logged = [e for e in logs if e["event"] == "database_unavailable"]
    assert logged and all(port not in str(e) for e in logged)

    await wait_for_readyz(keys.http, 200, timeout=30)
    assert await keys.event_count() == before
    created = await keys.call("POST", "/users/s1/keys", json={"budget_usd": "5.00"})
    assert created.status_code == 201, created.text
