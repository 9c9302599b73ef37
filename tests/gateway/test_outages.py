"""While NATS is away the gateway says so on /readyz but keeps serving (metering spools)."""

from __future__ import annotations

import asyncio

import httpx
from nats.js import JetStreamContext

from infra.embedded import EmbeddedNats
from tests.gateway.conftest import Gateway, issue_key

CHAT = {"model": "fake", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


async def readyz(http: httpx.AsyncClient, status: int, timeout: float = 20) -> dict[str, object]:
    async with asyncio.timeout(timeout):
        while (response := await http.get("/readyz")).status_code != status:
            await asyncio.sleep(0.05)
    body: dict[str, object] = response.json()
    return body


async def test_readyz_is_red_while_nats_is_away_and_requests_are_still_served(
    gateway: Gateway, js: JetStreamContext, nats_server: EmbeddedNats
) -> None:
    key, _ = await issue_key(js)
    auth = {"authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        async with asyncio.timeout(10):
            while (await http.post("/v1/chat/completions", headers=auth, json=CHAT)).is_error:
                await asyncio.sleep(0.05)
        nats_server.stop()
        assert (await readyz(http, 503))["waiting_for"] == ["nats"]
        assert (await http.post("/v1/chat/completions", headers=auth, json=CHAT)).status_code == 200
        nats_server.start()
        await readyz(http, 200)
