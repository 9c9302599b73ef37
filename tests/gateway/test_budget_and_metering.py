"""Hard budgets under concurrency, and metering that loses and doubles nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import httpx
import openai
import pytest
from nats.js import JetStreamContext

from contracts.events import BudgetRenewed, RequestMetered
from infra.embedded import EmbeddedNats
from tests.fakes.upstream import FakeUpstream
from tests.gateway.conftest import Gateway, issue_key, metered, now, publish, start_gateway
from tests.positions import gateway_caught_up

OUTPUT = 20  # tokens each request asks for


async def stream_one(client: openai.AsyncOpenAI, words: int) -> str:
    stream = await client.chat.completions.create(
        model="fake",
        messages=[{"role": "user", "content": " ".join(["w"] * words)}],
        max_tokens=OUTPUT,
        stream=True,
    )
    return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])


def max_cost(gateway: Gateway, words: int) -> int:
    """What the gateway reserves for one of these requests (an upper bound of its cost)."""
    model = gateway.proxy.state.models["fake"]
    body = {
        "messages": [{"role": "user", "content": " ".join(["w"] * words)}],
        "model": "fake",
        "max_tokens": OUTPUT,
        "stream": True,
    }
    raw = __import__("json").dumps(body).encode()
    return int(model.max_cost_micro(-(-len(raw) // 3) + 16, OUTPUT))


async def wait_metered(
    js: JetStreamContext, count: int, seconds: float = 20
) -> list[RequestMetered]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        events = await metered(js)
        if len(events) >= count or loop.time() > deadline:
            return events
        await asyncio.sleep(0.1)


async def test_sixty_four_concurrent_streams_cannot_overspend_and_ledger_matches_upstream(
    gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    fake = fake_upstream[0]
    fake.chunk_delay_seconds = 0.01
    one_request = 64 * 10 + OUTPUT * 100  # the largest prompt below, at 10 and 100 micro-USD
    budget = 10 * one_request
    key, issued = await issue_key(js, budget_micro_usd=budget)
    client = gateway.client(key, max_retries=0)
    # Each request has its own prompt length, so usage matches request by request.
    results = await asyncio.gather(
        *(stream_one(client, words) for words in range(1, 65)), return_exceptions=True
    )
    served = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if not isinstance(r, str)]
    # Refused while spent (402) or while other open requests hold the rest (429).
    assert all(
        isinstance(r, openai.APIStatusError) and r.status_code in (402, 429) for r in refused
    )
    assert 5 <= len(served) < 64
    events = await wait_metered(js, len(served))
    assert len(events) == len(served) == len(fake.reported)
    spent = sum(e.cost_micro_usd for e in events)
    assert spent <= budget  # never past it: no request was admitted that it could not pay for
    by_prompt = {e.prompt_tokens: (e.prompt_tokens, e.completion_tokens) for e in events}
    reported = {
        u["prompt_tokens"]: (u["prompt_tokens"], u["completion_tokens"]) for u in fake.reported
    }
    assert by_prompt == reported and len(by_prompt) == len(events)
    assert all(e.cost_micro_usd == e.prompt_tokens * 10 + e.completion_tokens * 100 for e in events)
    account = gateway.proxy.state.budgets.account(issued.key_id)
    assert (account.spent_micro, account.reserved_micro) == (spent, 0)


async def test_budget_renewal_starts_a_new_period(gateway: Gateway, js: JetStreamContext) -> None:
    # Pays for one request's prompt and whole answer (50 tokens at $100/M), not for two.
    key, issued = await issue_key(js, budget_micro_usd=5_500)
    await gateway_caught_up(gateway.url, js)
    client = gateway.client(key, max_retries=0)
    chat: dict[str, Any] = {"model": "fake", "messages": [{"role": "user", "content": "hi"}]}
    await client.chat.completions.create(**chat)
    with pytest.raises(openai.APIStatusError) as refused:
        await client.chat.completions.create(**chat)
    assert refused.value.status_code == 402
    await publish(
        js,
        BudgetRenewed(
            event_id=uuid.uuid4(),
            occurred_at=now(),
            key_id=issued.key_id,
            period_start=now(),
            budget_micro_usd=5_500,
        ),
    )
    await gateway_caught_up(gateway.url, js)
    renewed = await client.chat.completions.create(**chat)
    assert renewed.usage is not None and renewed.usage.completion_tokens > 0


async def test_client_disconnect_bills_what_was_generated(
    gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    fake_upstream[0].chunk_delay_seconds = 0.05
    key, issued = await issue_key(js)
    body = {"model": "fake", "messages": [{"role": "user", "content": "x"}], "max_tokens": 50}
    body["stream"] = True
    async with (
        httpx.AsyncClient(base_url=gateway.url) as http,
        http.stream(
            "POST", "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}
        ) as response,
    ):
        seen = 0
        async for line in response.aiter_lines():
            seen += line.startswith("data:")
            if seen == 5:
                break
    [event] = await wait_metered(js, 1)
    assert event.estimated and 5 <= event.completion_tokens < 50
    account = gateway.proxy.state.budgets.account(issued.key_id)
    assert account.reserved_micro == 0 and account.spent_micro == event.cost_micro_usd


async def request_ids_under_load(gateway: Gateway, key: str, stop: asyncio.Event) -> list[str]:
    ids: list[str] = []
    body = {"model": "fake", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:

        async def worker() -> None:
            while not stop.is_set():
                response = await http.post(
                    "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}
                )
                assert response.status_code == 200, response.text
                ids.append(response.headers["x-request-id"])
                await asyncio.sleep(0.02)

        await asyncio.gather(*(worker() for _ in range(4)))
    return ids


async def test_nats_down_for_ten_seconds_under_load_loses_and_doubles_nothing(
    gateway: Gateway, js: JetStreamContext, nats_server: EmbeddedNats
) -> None:
    key, _ = await issue_key(js)
    stop = asyncio.Event()
    load = asyncio.create_task(request_ids_under_load(gateway, key, stop))
    await asyncio.sleep(1)
    await asyncio.to_thread(nats_server.stop)
    await asyncio.sleep(10)
    await asyncio.to_thread(nats_server.start)
    await asyncio.sleep(1)
    stop.set()
    ids = await load
    events = await wait_metered(js, len(ids), seconds=30)
    counts = Counter(str(e.request_id) for e in events)
    assert set(counts) == set(ids) and set(counts.values()) == {1}
    assert len(ids) > 50


async def test_spooled_metering_survives_a_gateway_restart(
    make_settings: Any, js: JetStreamContext, nats_server: EmbeddedNats, gateways: list[Gateway]
) -> None:
    settings = make_settings()
    first = start_gateway(settings)
    gateways.append(first)
    key, issued = await issue_key(js)
    await gateway_caught_up(first.url, js)
    client = first.client(key)
    # The first request takes the key's budget lease; the next five are served within it
    # while NATS is away (a key never seen before could not be: docs/gateway.md).
    await client.chat.completions.create(
        model="fake", messages=[{"role": "user", "content": "hi"}], max_tokens=1
    )
    await wait_metered(js, 1)
    await asyncio.to_thread(nats_server.stop)
    for _ in range(5):
        await client.chat.completions.create(
            model="fake", messages=[{"role": "user", "content": "hi"}], max_tokens=1
        )
    spent = first.proxy.state.budgets.account(issued.key_id).spent_micro
    await first.stop()
    spooled = first.runtime.meter.spool.read_all()
    assert len([line for line in spooled if b'"RequestMetered"' in line]) == 5
    assert all(key.encode() not in line for line in spooled)
    await asyncio.to_thread(nats_server.start)
    second = start_gateway(settings)
    gateways.append(second)
    events = await wait_metered(js, 6)
    assert len({e.request_id for e in events}) == len(events) == 6
    assert second.proxy.state.budgets.account(issued.key_id).spent_micro == spent
    assert second.runtime.meter.spool.read_all() == []
