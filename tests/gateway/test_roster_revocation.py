"""A key the roster ended (a OneRoster import disabling its holder) is refused by a real
gateway within a second: keys service, relay, KEYS and gateway, nothing faked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from tests.gateway.conftest import ISSUED_KEYS, Gateway, start_gateway
from tests.keys.conftest import SECRET, Clock, Keys, settings_for, start_keys
from tests.keys.roster import import_zip, roster_zip


@pytest.fixture
async def keys(database_url: str, nats_url: str) -> AsyncIterator[Keys]:
    async for running in start_keys(settings_for(database_url, nats_url), Clock()):
        yield running


async def until_accepted(client: openai.AsyncOpenAI) -> None:
    """The gateway has seen the key (the relay publishes it just after the commit)."""
    async with asyncio.timeout(10):
        while True:
            try:
                await client.models.list()
                return
            except openai.AuthenticationError:
                await asyncio.sleep(0.02)


async def test_a_key_the_roster_revoked_is_refused_by_the_gateway_within_one_second(
    keys: Keys, make_settings: Any, gateways: list[Gateway]
) -> None:
    assert (await import_zip(keys, roster_zip())).status_code == 200
    created = await keys.call("POST", "/users/or-s-1/keys", json={"budget_usd": "2"})
    key = created.json()["key"]
    ISSUED_KEYS.append(key)
    gateway = start_gateway(make_settings(hash_secret=SECRET))
    gateways.append(gateway)
    client = gateway.client(key, max_retries=0)
    await until_accepted(client)

    disabled = roster_zip(change={"or-s-1": {"enabledUser": "false"}})
    response = await import_zip(keys, disabled)
    assert [r["user_id"] for r in response.json()["revoked"]] == ["or-s-1"]
    deadline = asyncio.get_running_loop().time() + 1.0
    while True:
        try:
            await client.models.list()
        except openai.AuthenticationError as exc:
            assert "revoked" in exc.message
            break
        assert asyncio.get_running_loop().time() < deadline, "still accepted after 1 s"
        await asyncio.sleep(0.01)
