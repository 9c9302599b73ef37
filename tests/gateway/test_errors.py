"""Every refusal speaks OpenAI's error envelope, with the status coding tools expect."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import openai
import pytest
from nats.js import JetStreamContext

from contracts.apikeys import generate_key
from contracts.events import Renewal
from tests.fakes.upstream import FakeUpstream
from tests.gateway.conftest import Gateway, issue_key, metered, now, start_gateway

CHAT = {"model": "fake", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


def error_of(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, object] = body["error"]
    assert {"message", "type", "code"} <= set(error)
    return error


async def post(gateway: Gateway, headers: dict[str, str], **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        return await http.post("/v1/chat/completions", headers=headers, **kwargs)  # type: ignore[arg-type]


async def test_unknown_key_is_invalid_api_key(gateway: Gateway, js: JetStreamContext) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        await gateway.client(generate_key()).models.list()
    assert caught.value.code == "invalid_api_key" and "unknown" in caught.value.message


async def test_malformed_key_is_rejected_without_lookup(
    gateway: Gateway, js: JetStreamContext
) -> None:
    key, _ = await issue_key(js)
    typo = key[:-1] + ("A" if key[-1] != "A" else "B")
    response = await post(gateway, {"authorization": f"Bearer {typo}"}, json=CHAT)
    assert response.status_code == 401
    assert "well-formed" in str(error_of(response)["message"])


async def test_missing_key_is_invalid_api_key(gateway: Gateway, js: JetStreamContext) -> None:
    response = await post(gateway, {}, json=CHAT)
    assert response.status_code == 401 and error_of(response)["code"] == "invalid_api_key"


@pytest.mark.parametrize("header", ["api-key", "x-api-key", "Authorization"])
async def test_key_is_accepted_in_every_header(
    gateway: Gateway, js: JetStreamContext, header: str
) -> None:
    key, _ = await issue_key(js)
    value = f"Bearer {key}" if header == "Authorization" else key
    response = await post(gateway, {header: value}, json=CHAT)
    assert response.status_code == 200


async def test_key_before_its_window_says_when_it_is_valid(
    gateway: Gateway, js: JetStreamContext
) -> None:
    start = now().replace(microsecond=0) + timedelta(days=2)
    key, _ = await issue_key(js, valid_from=start, valid_until=start + timedelta(days=1))
    with pytest.raises(openai.AuthenticationError) as caught:
        await gateway.client(key).chat.completions.create(**CHAT)  # type: ignore[call-overload]
    local = start.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Amsterdam"))
    assert "not valid yet" in caught.value.message
    assert f"{local:%Y-%m-%d %H:%M} (Europe/Amsterdam)" in caught.value.message


async def test_expired_key_is_rejected(gateway: Gateway, js: JetStreamContext) -> None:
    key, _ = await issue_key(js, valid_until=now() - timedelta(minutes=5))
    with pytest.raises(openai.AuthenticationError) as caught:
        await gateway.client(key).models.list()
    assert "expired" in caught.value.message


async def test_unknown_model_is_model_not_found(gateway: Gateway, js: JetStreamContext) -> None:
    key, _ = await issue_key(js)
    with pytest.raises(openai.NotFoundError) as caught:
        await gateway.client(key).chat.completions.create(
            model="gpt-9", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.code == "model_not_found" and "gpt-9" in caught.value.message


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b""])
async def test_body_that_is_not_a_json_object_is_400_and_not_metered(
    gateway: Gateway, js: JetStreamContext, body: bytes
) -> None:
    key, _ = await issue_key(js)
    response = await post(gateway, {"authorization": f"Bearer {key}"}, content=body)
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_request_error"
    assert await metered(js) == []


async def test_exhausted_budget_is_402_naming_the_budget(
    gateway: Gateway, js: JetStreamContext
) -> None:
    # $0.0006 pays for one CHAT (prompt estimate + 2 tokens at $100/M); it costs $0.00021.
    key, _ = await issue_key(js, budget_micro_usd=600)
    client = gateway.client(key)
    await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    error = caught.value
    assert error.status_code == 402 and error.code == "insufficient_quota"
    assert re.search(r"This request needs about \$0\.000\d+ and \$0\.00039 is left", error.message)
    assert "budget of $0.0006" in error.message and "does not renew" in error.message
    assert error.response.headers["x-should-retry"] == "false"


async def test_exhausted_weekly_budget_says_it_renews_on_monday_at_the_schools_midnight(
    gateway: Gateway, js: JetStreamContext
) -> None:
    key, _ = await issue_key(js, budget_micro_usd=600, renewal=Renewal.WEEKLY)
    client = gateway.client(key)
    await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    zone = ZoneInfo("Europe/Amsterdam")  # the test school's zone
    today = datetime.now(zone).date()
    monday = today + timedelta(days=7 - today.weekday())
    assert caught.value.status_code == 402
    assert f"It renews on {monday.isoformat()} 00:00 (Europe/Amsterdam)." in caught.value.message


async def test_upstream_error_passes_through_with_its_status_and_body(
    gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    body = {"error": {"message": "context too long", "type": "invalid_request_error", "code": "x"}}
    fake_upstream[0].fail_with = (400, body)
    key, _ = await issue_key(js)
    response = await post(gateway, {"authorization": f"Bearer {key}"}, json=CHAT)
    assert (response.status_code, response.json()) == (400, body)


async def test_upstream_timeout_is_504(
    make_settings: object,
    js: JetStreamContext,
    gateways: list[Gateway],
    fake_upstream: tuple[FakeUpstream, str],
) -> None:
    fake_upstream[0].delay_seconds = 2.0
    gateway = start_gateway(make_settings(upstream_timeout_seconds=0.3))  # type: ignore[operator]
    gateways.append(gateway)
    key, _ = await issue_key(js)
    response = await post(gateway, {"authorization": f"Bearer {key}"}, json=CHAT)
    assert response.status_code == 504 and error_of(response)["code"] == "upstream_timeout"


async def test_requests_over_the_per_minute_limit_get_429_with_retry_after(
    make_settings: object, js: JetStreamContext, gateways: list[Gateway]
) -> None:
    gateway = start_gateway(make_settings(student_requests_per_minute=2))  # type: ignore[operator]
    gateways.append(gateway)
    key, _ = await issue_key(js)
    client = gateway.client(key, max_retries=0)
    for _ in range(2):
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert caught.value.code == "rate_limit_exceeded"
    assert 1 <= int(caught.value.response.headers["retry-after"]) <= 60


async def test_unknown_route_speaks_the_openai_envelope(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        response = await http.get("/v1/nothing")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
