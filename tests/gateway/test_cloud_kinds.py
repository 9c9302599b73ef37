"""Azure OpenAI and Vertex AI upstreams: each gets what its cloud requires, is metered as
any other, and a Google service account's tokens are fetched ahead of expiry and never shown.

The fake's doors (tests/fakes/cloud.py) refuse a request that lacks the cloud's header,
query or a live token, so an answered request proves the gateway sent them.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from nats.js import JetStreamContext

from contracts.streams import USAGE
from tests.fakes.cloud import write_service_account
from tests.fakes.upstream import FakeUpstream
from tests.gateway.conftest import (
    ISSUED_KEYS,
    UPSTREAM_SECRET,
    Gateway,
    issue_key,
    start_gateway,
)
from tests.gateway.test_openai_sdk import wait_for_usage

PRICES = """input_usd_per_million = 10
cached_input_usd_per_million = 1
output_usd_per_million = 100
max_output_tokens = 50
"""
MODELS = f"""
[models.azure-gpt]
kind = "azure"
base_url = "{{root}}"
api_key_env = "AISCHOOL_TEST_UPSTREAM_KEY"
upstream_model = "gpt4o-school"
api_version = "2024-10-21"
{PRICES}
[models.azure-v1]
kind = "azure"
base_url = "{{root}}"
api_key_env = "AISCHOOL_TEST_UPSTREAM_KEY"
upstream_model = "gpt4o-school"
{PRICES}
[models.gemini]
kind = "vertex"
base_url = "{{root}}"
project = "school-project"
location = "europe-west4"
credentials_file = "{{account}}"
upstream_model = "google/gemini-2.5-flash"
{PRICES}
[models.claude-vertex]
kind = "vertex-anthropic"
base_url = "{{root}}"
project = "school-project"
location = "europe-west4"
credentials_file = "{{account}}"
upstream_model = "claude-sonnet-4-5@20250929"
cache_write_usd_per_million = 20
{PRICES}"""
SAY_OK: list[Any] = [{"role": "user", "content": "say ok three times"}]
VERTEX_ROOT = "/v1/projects/school-project/locations/europe-west4"


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Callable[[], str]:
    """Log records and output so far (output read is written back for the other checks)."""

    def read() -> str:
        out, err = capsys.readouterr()
        print(out, end="")
        print(err, end="", file=sys.stderr)
        return caplog.text + out + err

    return read


class Cloud:
    """The fake clouds, the service account's private key, and a gateway to start."""

    def __init__(self, fake: FakeUpstream, private_pem: bytes, start: Callable[[], Gateway]):
        self.fake, self.private_pem, self.start = fake, private_pem, start

    def secrets(self) -> list[str]:
        """Everything that must never be shown: tokens, signed grants, the key's lines."""
        tokens = [token for token, _, _ in self.fake.google.issued]
        lines = [line for line in self.private_pem.decode().splitlines() if "---" not in line]
        return [*tokens, *self.fake.google.grants, *lines, UPSTREAM_SECRET, *ISSUED_KEYS]


@pytest.fixture
def cloud(
    tmp_path: Path,
    make_settings: Any,
    js: JetStreamContext,
    gateways: list[Gateway],
    fake_upstream: tuple[FakeUpstream, str],
) -> Cloud:
    fake, url = fake_upstream
    root = url.removesuffix("/v1")
    account = tmp_path / "service-account.json"
    private, fake.google.public_pem = write_service_account(account, f"{root}/token")
    fake.azure_key = UPSTREAM_SECRET
    models = tmp_path / "cloud-models.toml"
    models.write_text(MODELS.format(root=root, account=account))

    def start() -> Gateway:
        gateway = start_gateway(make_settings(models_file=models))
        gateways.append(gateway)
        return gateway

    return Cloud(fake, private, start)


async def test_azure_deployment_urls_carry_api_key_and_api_version(
    cloud: Cloud, js: JetStreamContext
) -> None:
    gateway = cloud.start()
    key, _ = await issue_key(js)
    client = gateway.client(key)
    whole, streamed = await whole_and_streamed(client, "azure-gpt")
    await client.embeddings.create(model="azure-gpt", input="two words")
    await client.responses.create(model="azure-gpt", input="say ok", max_output_tokens=2)
    assert whole == "ok ok ok" and streamed == "ok ok"
    deployment = "/openai/deployments/gpt4o-school"
    assert cloud.fake.targets == [
        f"{deployment}/chat/completions?api-version=2024-10-21",
        f"{deployment}/chat/completions?api-version=2024-10-21",
        f"{deployment}/embeddings?api-version=2024-10-21",
        "/openai/responses?api-version=2024-10-21",
    ]
    assert cloud.fake.requests[3]["model"] == "gpt4o-school"  # the deployment
    for headers in cloud.fake.headers:
        assert headers["api-key"] == UPSTREAM_SECRET and "authorization" not in headers
    events = await wait_for_usage(js, 4)
    costs = sorted(e.cost_micro_usd for e in events)
    assert costs == sorted([4 * 10 + 3 * 100, 4 * 10 + 2 * 100, 2 * 10, 2 * 10 + 2 * 100])


async def test_azure_v1_api_needs_no_api_version(cloud: Cloud, js: JetStreamContext) -> None:
    gateway = cloud.start()
    key, _ = await issue_key(js)
    client = gateway.client(key)
    answer = await client.responses.create(model="azure-v1", input="say ok", max_output_tokens=3)
    await client.chat.completions.create(model="azure-v1", messages=SAY_OK, max_tokens=1)
    assert answer.output_text == "ok ok ok"
    assert cloud.fake.targets == ["/openai/v1/responses", "/openai/v1/chat/completions"]
    [first, second] = await wait_for_usage(js, 2)
    assert {first.cost_micro_usd, second.cost_micro_usd} == {2 * 10 + 3 * 100, 4 * 10 + 100}


async def test_gemini_on_vertex_is_called_with_a_service_account_token(
    cloud: Cloud, js: JetStreamContext, logs: Callable[[], str]
) -> None:
    gateway = cloud.start()
    key, issued = await issue_key(js)
    client = gateway.client(key)
    whole, streamed = await whole_and_streamed(client, "gemini")
    assert whole == "ok ok ok" and streamed == "ok ok"
    assert cloud.fake.targets == [f"{VERTEX_ROOT}/endpoints/openapi/chat/completions"] * 2
    assert cloud.fake.requests[0]["model"] == "google/gemini-2.5-flash"
    [(token, _, _)] = cloud.fake.google.issued  # one token, fetched once, used twice
    assert {h["authorization"] for h in cloud.fake.headers} == {f"Bearer {token}"}
    events = await wait_for_usage(js, 2)
    assert sorted(e.cost_micro_usd for e in events) == [4 * 10 + 2 * 100, 4 * 10 + 3 * 100]
    assert all(e.key_id == issued.key_id and not e.estimated for e in events)
    with pytest.raises(openai.NotFoundError, match="served through chat completions only"):
        await client.responses.create(model="gemini", input="hi")
    await assert_nothing_shows(cloud, gateway, js, logs())


async def test_claude_on_vertex_names_the_model_in_the_url(
    cloud: Cloud, js: JetStreamContext, logs: Callable[[], str]
) -> None:
    cloud.fake.cached_tokens, cloud.fake.cache_write_tokens = 3, 2
    gateway = cloud.start()
    key, _ = await issue_key(js)
    async with anthropic.AsyncAnthropic(api_key=key, base_url=gateway.url) as client:
        answer = await client.messages.create(model="claude-vertex", max_tokens=2, messages=SAY_OK)
        async with client.messages.stream(
            model="claude-vertex", max_tokens=3, messages=SAY_OK
        ) as stream:
            streamed = await stream.get_final_text()
        counted = await client.messages.count_tokens(model="claude-vertex", messages=SAY_OK)
    assert answer.content[0].type == "text" and answer.content[0].text == "ok ok"
    assert streamed == "ok ok ok" and counted.input_tokens == 4
    models = f"{VERTEX_ROOT}/publishers/anthropic/models"
    assert cloud.fake.targets == [
        f"{models}/claude-sonnet-4-5@20250929:rawPredict",
        f"{models}/claude-sonnet-4-5@20250929:streamRawPredict",
        f"{models}/count-tokens:rawPredict",
    ]
    assert cloud.fake.vertex_models == ["claude-sonnet-4-5@20250929"] * 2
    assert cloud.fake.requests[2]["model"] == "claude-sonnet-4-5@20250929"
    events = await wait_for_usage(js, 2)  # counting tokens is free
    fresh, reads, writes = 4 * 10, 3 * 1, 2 * 20
    costs = sorted(e.cost_micro_usd for e in events)
    assert costs == [fresh + reads + writes + 2 * 100, fresh + reads + writes + 3 * 100]
    await assert_nothing_shows(cloud, gateway, js, logs())


async def test_the_token_is_renewed_ahead_of_expiry_while_requests_go_on(
    cloud: Cloud, js: JetStreamContext, logs: Callable[[], str]
) -> None:
    google = cloud.fake.google
    google.lifetime_seconds = 8  # renewed 4 s before it expires (half its life)
    gateway = cloud.start()
    key, _ = await issue_key(js)
    client = gateway.client(key)
    await client.chat.completions.create(model="gemini", messages=SAY_OK, max_tokens=1)
    google.held.set()  # Google slows down: the next token request hangs
    await until(lambda: google.waiting == 1)
    # The renewal is under way and held; a request meanwhile goes out at once, old token.
    await client.chat.completions.create(model="gemini", messages=SAY_OK, max_tokens=1)
    [(first, _, first_expires)] = google.issued
    assert cloud.fake.headers[-1]["authorization"] == f"Bearer {first}"
    google.held.clear()
    google.release.set()
    await until(lambda: len(google.issued) == 2)
    second, renewed_at, _ = google.issued[1]
    assert renewed_at < first_expires
    await client.chat.completions.create(model="gemini", messages=SAY_OK, max_tokens=1)
    assert cloud.fake.headers[-1]["authorization"] == f"Bearer {second}"
    await assert_nothing_shows(cloud, gateway, js, logs())


async def test_no_token_from_google_is_a_502_that_shows_nothing(
    cloud: Cloud, js: JetStreamContext, logs: Callable[[], str]
) -> None:
    cloud.fake.google.failing = True
    gateway = cloud.start()
    key, _ = await issue_key(js)
    body = {"model": "gemini", "messages": SAY_OK, "max_tokens": 1}
    headers = {"authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        refused = await http.post("/v1/chat/completions", json=body, headers=headers)
        assert refused.status_code == 502
        assert refused.json()["error"]["code"] == "upstream_unavailable"
        assert "No access token from Google" in refused.json()["error"]["message"]
        assert cloud.fake.requests == []  # nothing went to Vertex without a token
        cloud.fake.google.failing = False
        answered = await http.post("/v1/chat/completions", json=body, headers=headers)
    assert answered.status_code == 200
    [event] = await wait_for_usage(js, 1)  # the 502 was not metered
    assert event.status == 200
    await assert_nothing_shows(cloud, gateway, js, logs() + refused.text)


async def whole_and_streamed(client: openai.AsyncOpenAI, model: str) -> tuple[str, str]:
    """A chat answer of 3 tokens, then one of 2 streamed: their texts."""
    answer = await client.chat.completions.create(model=model, messages=SAY_OK, max_tokens=3)
    stream = await client.chat.completions.create(
        model=model, messages=SAY_OK, max_tokens=2, stream=True
    )
    streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    return answer.choices[0].message.content or "", streamed


async def until(condition: Callable[[], bool]) -> None:
    """Wait for what the fake reports (it changes on another thread), at most 30 s."""
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the fake never reported it")


async def assert_nothing_shows(
    cloud: Cloud, gateway: Gateway, js: JetStreamContext, logs: str
) -> None:
    """No token, grant or line of the private key in logs, metrics, answers or USAGE."""
    info = await js.stream_info(USAGE.name)
    stored = [
        (await js.get_msg(USAGE.name, seq)).data or b""
        for seq in range(info.state.first_seq, info.state.last_seq + 1)
        if info.state.last_seq
    ]
    async with httpx.AsyncClient() as http:
        scraped = (await http.get(f"{gateway.url}/metrics")).text
    shown = "\n".join([logs, scraped, *(data.decode() for data in stored)])
    assert cloud.fake.google.issued, "no token was issued: the check would prove nothing"
    for secret in cloud.secrets():
        assert secret not in shown
