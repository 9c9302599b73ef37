"""What Aider and OpenCode really send (recorded in fixtures/) goes through and is metered."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from nats.js import JetStreamContext

from tests.fakes.upstream import FakeUpstream
from tests.gateway.conftest import Gateway, issue_key, metered

FIXTURES = Path(__file__).parent / "fixtures"


def recorded(name: str) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = json.loads((FIXTURES / name).read_text())["requests"]
    return requests


async def replay(gateway: Gateway, key: str, requests: list[dict[str, Any]]) -> list[str]:
    """Send each recorded request as its tool did; return each answer's SSE data lines."""
    answers = []
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        for request in requests:
            body = {**request["body"], "model": "fake"}
            headers = {**request["headers"], "authorization": f"Bearer {key}"}
            async with http.stream(
                "POST", "/v1/chat/completions", json=body, headers=headers
            ) as response:
                assert response.status_code == 200, await response.aread()
                lines = [line async for line in response.aiter_lines() if line.startswith("data:")]
            answers.append("\n".join(lines))
    return answers


async def wait_metered(js: JetStreamContext, count: int) -> int:
    for _ in range(200):
        if len(await metered(js)) >= count:
            break
        await asyncio.sleep(0.05)
    return len(await metered(js))


async def test_aider_streams_without_stream_options_and_gets_no_usage_chunk(
    gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    requests = recorded("aider_sessions.json")
    assert all("stream_options" not in r["body"] and r["body"].get("stream") for r in requests)
    key, _ = await issue_key(js)
    answers = await replay(gateway, key, requests)
    assert all('"usage":{' not in answer.replace(" ", "") for answer in answers)
    assert all(
        sent["stream_options"] == {"include_usage": True} for sent in fake_upstream[0].requests
    )
    assert await wait_metered(js, len(requests)) == len(requests)
    assert not any(event.estimated for event in await metered(js))


async def test_opencode_with_tools_and_32000_max_tokens_is_served_and_capped(
    gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    requests = recorded("opencode_sessions.json")
    assert any(len(r["body"].get("tools") or []) >= 9 for r in requests)
    key, _ = await issue_key(js)
    answers = await replay(gateway, key, requests)
    assert all('"usage":{' in answer.replace(" ", "") for answer in answers)
    assert all(sent["max_tokens"] == 50 for sent in fake_upstream[0].requests)
    assert await wait_metered(js, len(requests)) == len(requests)
