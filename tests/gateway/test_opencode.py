"""``GET /v1/opencode.json``: an OpenCode config for this gateway, with no secret in it."""

from __future__ import annotations

import tomllib

import httpx
import pytest
from nats.js import JetStreamContext

from services.gateway.domain.opencode import public_base_url
from services.gateway.errors import BadRequest
from tests.fakes.upstream import FakeUpstream
from tests.gateway.conftest import SECRET, UPSTREAM_SECRET, Gateway


async def fetch(gateway: Gateway, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        return await http.get("/v1/opencode.json", headers=headers)


async def test_the_config_needs_no_key_and_lists_every_model_with_its_limits(
    gateway: Gateway, js: JetStreamContext
) -> None:
    response = await fetch(gateway)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    config = response.json()
    assert config["$schema"] == "https://opencode.ai/config.json"
    [(provider_id, provider)] = config["provider"].items()
    assert provider_id == "aischool"
    assert provider["npm"] == "@ai-sdk/openai-compatible"
    assert provider["options"] == {"baseURL": f"{gateway.url}/v1", "apiKey": "{env:OPENAI_API_KEY}"}
    assert provider["models"] == {
        "fake": {"name": "fake", "limit": {"context": 8000, "output": 50}},
        "other": {"name": "other", "limit": {"context": 128_000, "output": 16_384}},
    }


async def test_the_config_holds_no_secret_and_no_upstream(
    gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    text = (await fetch(gateway)).text
    for secret in (SECRET, UPSTREAM_SECRET, "sk-ais-", fake_upstream[1], "fake-model"):
        assert secret not in text


async def test_the_config_names_the_url_a_proxy_forwarded(
    gateway: Gateway, js: JetStreamContext
) -> None:
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ai.school.example, 10.0.0.2"}
    config = (await fetch(gateway, headers)).json()
    options = config["provider"]["aischool"]["options"]
    assert options["baseURL"] == "https://ai.school.example/v1"


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"X-Forwarded-Proto": "ftp"}, "X-Forwarded-Proto"),
        ({"X-Forwarded-Host": "evil.example/path?x="}, "X-Forwarded-Host"),
        ({"X-Forwarded-Host": 'a"b'}, "X-Forwarded-Host"),
    ],
)
async def test_a_bad_forwarded_header_is_a_precise_400(
    gateway: Gateway, js: JetStreamContext, headers: dict[str, str], field: str
) -> None:
    response = await fetch(gateway, headers)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["message"].startswith(field)


def test_the_public_url_keeps_an_ipv6_host_and_its_port() -> None:
    assert public_base_url("http", "[::1]:8100", None, None) == "http://[::1]:8100/v1"
    with pytest.raises(BadRequest, match="X-Forwarded-Host"):
        public_base_url("http", "", None, "")


async def test_the_codex_config_defines_a_responses_provider_with_the_forwarded_url(
    gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ai.school.example"}
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        response = await http.get("/v1/codex.toml", headers=headers)
        refused = await http.get("/v1/codex.toml", headers={"X-Forwarded-Host": 'a"b'})
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("application/toml")
    config = tomllib.loads(response.text)
    assert config == {
        "model_provider": "aischool",
        "model_providers": {
            "aischool": {
                "name": "AI-School Coding",
                "base_url": "https://ai.school.example/v1",
                "env_key": "OPENAI_API_KEY",
                "wire_api": "responses",
            }
        },
    }
    for secret in (SECRET, UPSTREAM_SECRET, "sk-ais-", fake_upstream[1]):
        assert secret not in response.text
    assert refused.status_code == 400
