"""GET /v1/key: a student or a tool sees what is left of its own key."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx
from nats.js import JetStreamContext

from contracts.events import Renewal
from contracts.periods import next_boundary
from tests.gateway.conftest import Gateway, issue_key, now
from tests.gateway.test_openai_sdk import wait_for_usage


async def test_own_key_shows_budget_used_remaining_renewal_window_and_models(
    gateway: Gateway, js: JetStreamContext
) -> None:
    until = now() + timedelta(days=30)
    key, issued = await issue_key(
        js,
        budget_micro_usd=2_000_000,
        renewal=Renewal.WEEKLY,
        valid_until=until,
        allowed_models=("fake",),
    )
    await gateway.client(key).chat.completions.create(
        model="fake", messages=[{"role": "user", "content": "say ok"}], max_tokens=3
    )
    [event] = await wait_for_usage(js, 1)
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        answer = await http.get("/v1/key", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    info = answer.json()
    spent = event.cost_micro_usd
    assert spent == 2 * 10 + 3 * 100
    assert info["key_id"] == str(issued.key_id)
    assert (info["budget_micro_usd"], info["used_micro_usd"]) == (2_000_000, spent)
    assert info["remaining_micro_usd"] == 2_000_000 - spent
    assert (info["budget_usd"], info["used_usd"]) == ("2.000000", "0.000320")
    assert info["in_flight_micro_usd"] == 0
    zone = ZoneInfo("Europe/Amsterdam")
    renews = next_boundary(Renewal.WEEKLY, issued.period_start, zone)
    assert renews is not None and info["renews_at"] == renews.isoformat()
    assert (info["renewal"], info["time_zone"]) == ("weekly", "Europe/Amsterdam")
    assert info["valid_until"] == until.isoformat() and info["valid_from"] is None
    assert info["allowed_models"] == ["fake"]
    assert key not in answer.text


async def test_key_without_allow_list_sees_every_model_and_no_renewal(
    gateway: Gateway, js: JetStreamContext
) -> None:
    key, _ = await issue_key(js, budget_micro_usd=500_000)
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        info = (await http.get("/v1/key", headers={"x-api-key": key})).json()
    assert info["allowed_models"] == ["fake", "other"]
    assert (info["used_micro_usd"], info["remaining_micro_usd"]) == (0, 500_000)
    assert info["renews_at"] is None and info["renewal"] == "none"


async def test_own_key_needs_a_valid_key(gateway: Gateway, js: JetStreamContext) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        missing = await http.get("/v1/key")
        wrong = await http.get("/v1/key", headers={"Authorization": "Bearer sk-ais-nonsense"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["error"]["code"] == "invalid_api_key"
