"""What an operator's Grafana reads from the gateway's /metrics, scraped as Prometheus text."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from nats.js import JetStreamContext
from prometheus_client.parser import text_string_to_metric_families

from contracts.apikeys import generate_key, hash_secret
from contracts.events import ChatCreated, KeyIssued, RequestMetered
from contracts.streams import KEYS, USAGE
from infra.embedded import EmbeddedNats
from services.gateway.adapters.spool import Spool
from tests.fakes.upstream import FakeUpstream
from tests.gateway.conftest import SECRET, Gateway, issue_key, usage_events
from tests.gateway.test_budget_and_metering import wait_metered
from tests.positions import gateway_caught_up

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
CHAT = "/v1/chat/completions"


def scrape(gateway: Gateway) -> tuple[str, Samples]:
    """The /metrics text and its samples by name and labels."""
    text = httpx.get(f"{gateway.url}/metrics").text
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist (as Prometheus treats absence)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape_until(gateway: Gateway, done: Any, seconds: float = 20) -> tuple[str, Samples]:
    """Scrape until ``done(samples)`` holds (the metering queue publishes in the background)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        text, samples = await asyncio.to_thread(scrape, gateway)
        if done(samples) or loop.time() > deadline:
            return text, samples
        await asyncio.sleep(0.05)


def chat(model: str = "fake", content: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


async def send_requests(gateway: Gateway, js: JetStreamContext) -> list[tuple[str, KeyIssued]]:
    """Three answered chats (one streamed), a 401, a 402, a 404 and a model list."""
    key, issued = await issue_key(js)
    # Pays for the first 'poor' request's estimate (about $0.00057), not for a second one.
    poor_key, poor = await issue_key(js, budget_micro_usd=800)
    unknown = generate_key()
    await gateway_caught_up(gateway.url, js)
    async with httpx.AsyncClient(base_url=f"{gateway.url}/v1", timeout=30) as client:

        async def post(secret: str, body: dict[str, Any]) -> int:
            headers = {"authorization": f"Bearer {secret}"}
            async with client.stream("POST", "/chat/completions", json=body, headers=headers) as r:
                await r.aread()
                return r.status_code

        statuses = [
            await post(key, chat(max_tokens=5)),
            await post(key, chat(content="a stream", max_tokens=7, stream=True)),
            await post(poor_key, chat(content="poor", max_tokens=3)),
            await post(poor_key, chat(content="poor again", max_tokens=3)),
            await post(unknown, chat()),
            await post(key, chat(model="made-up-model")),
        ]
        models = await client.get("/models", headers={"authorization": f"Bearer {key}"})
    assert statuses == [200, 200, 200, 402, 401, 404]
    assert models.status_code == 200
    return [(key, issued), (poor_key, poor), (unknown, issued)]


async def test_metrics_count_requests_errors_tokens_cost_and_metering_without_secrets(
    gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    keys = await send_requests(gateway, js)
    assert len(await wait_metered(js, 3)) == 3
    events = await usage_events(js)
    last_usage = (await js.stream_info(USAGE.name)).state.last_seq
    text, samples = await scrape_until(
        gateway,
        lambda s: value(s, "gateway_stream_sequence", stream="USAGE") >= last_usage,
    )

    def requests(status: str, model: str = "fake", endpoint: str = CHAT) -> float:
        return value(
            samples, "gateway_requests_total", endpoint=endpoint, model=model, status=status
        )

    assert requests("200") == 3
    assert requests("402") == 1
    assert requests("401", model="") == 1
    assert requests("404", model="") == 1
    assert requests("200", model="", endpoint="/v1/models") == 1
    for code in ("insufficient_quota", "invalid_api_key", "model_not_found"):
        assert value(samples, "gateway_errors_total", endpoint=CHAT, code=code) == 1

    metered = [e for e in events if isinstance(e, RequestMetered)]
    reported = fake_upstream[0].reported
    assert value(samples, "gateway_tokens_total", model="fake", kind="prompt") == sum(
        u["prompt_tokens"] for u in reported
    )
    assert value(samples, "gateway_tokens_total", model="fake", kind="completion") == 5 + 7 + 3
    assert value(samples, "gateway_tokens_total", model="fake", kind="cached") == 0
    assert value(samples, "gateway_cost_micro_usd_total", model="fake") == sum(
        e.cost_micro_usd for e in metered
    )
    chats = [e for e in events if isinstance(e, ChatCreated)]
    assert value(samples, "gateway_chats_created_total", model="fake") == len(chats) >= 1

    assert value(samples, "gateway_upstream_first_chunk_seconds_count", model="fake") == 1
    assert value(samples, "gateway_upstream_seconds_count", model="fake") == 3
    assert value(samples, "gateway_overhead_seconds_count") == 3

    assert value(samples, "gateway_metering_published_total") == len(events)
    assert value(samples, "gateway_metering_spooled_total") == 0
    assert value(samples, "gateway_metering_spool_events") == 0
    assert value(samples, "gateway_metering_publish_failures_total") == 0
    assert value(samples, "gateway_keys") == 2
    keys_seq = (await js.stream_info(KEYS.name)).state.last_seq
    assert value(samples, "gateway_stream_sequence", stream="KEYS") == keys_seq
    assert value(samples, "gateway_requests_in_flight") == 0
    assert value(samples, "gateway_reserved_micro_usd") == 0

    for plaintext, issued in keys:
        assert plaintext not in text
        assert hash_secret(plaintext, SECRET.encode()) not in text
        assert issued.key_hash not in text
        assert issued.user_id not in text
    assert "made-up-model" not in text


async def test_spool_backlog_rises_while_nats_is_away_and_drains_after(
    gateway: Gateway, js: JetStreamContext, nats_server: EmbeddedNats
) -> None:
    key, _ = await issue_key(js)
    await gateway_caught_up(gateway.url, js)
    auth = {"authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=f"{gateway.url}/v1", timeout=30) as client:
        # The key's budget lease is taken while NATS is there; then it serves within it.
        first = await client.post("/chat/completions", json=chat(max_tokens=2), headers=auth)
        assert first.status_code == 200
        await scrape_until(gateway, lambda s: value(s, "gateway_metering_published_total") >= 1)
        nats_server.stop()
        try:
            answer = await client.post("/chat/completions", json=chat(max_tokens=2), headers=auth)
            assert answer.status_code == 200
            _, away = await scrape_until(
                gateway, lambda s: value(s, "gateway_metering_spool_events") >= 1
            )
            assert value(away, "gateway_metering_spooled_total") >= 1
        finally:
            nats_server.start()
    _, back = await scrape_until(gateway, lambda s: value(s, "gateway_metering_spool_events") == 0)
    assert value(back, "gateway_metering_spool_events") == 0
    assert value(back, "gateway_metering_published_total") >= 1


def test_spool_backlog_counts_lines_left_by_an_earlier_run_until_drained(tmp_path: Path) -> None:
    first = Spool(tmp_path)
    first.append([b"one", b"two"])
    first.take()
    first.append([b"three"])
    assert (first.backlog, first.appended) == (3, 3)
    again = Spool(tmp_path)
    assert (again.backlog, again.appended) == (3, 0)
    assert again.take() == [b"one", b"two"]
    again.done()
    assert again.backlog == 1
    assert again.take() == [b"three"]
    again.done()
    assert again.backlog == 0
