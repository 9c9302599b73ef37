"""Generated request bodies never make the gateway fail: a 2xx or an OpenAI-style 4xx."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.js import JetStreamContext

from tests.gateway.conftest import Gateway, issue_key

PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["yes", "true", "1", "\u0000", "x" * 40])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
parts = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image_url", "video"]) | json_values},
    optional={"text": st.text(max_size=20) | json_values},
)
messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user", "assistant", "tool", "robot"]) | json_values},
        optional={
            "content": st.text(max_size=30) | st.lists(parts, max_size=2) | json_values,
            "name": json_values,
        },
    ),
    max_size=3,
)
bodies = st.fixed_dictionaries(
    {"model": st.sampled_from(["fake", "other", "nope"]) | json_values},
    optional={
        "messages": messages | json_values,
        "prompt": st.text(max_size=20) | json_values,
        "input": st.text(max_size=20) | json_values,
        "stream": json_values,
        "stream_options": st.fixed_dictionaries({}, optional={"include_usage": json_values})
        | json_values,
        "max_tokens": st.integers(min_value=-5, max_value=10**7) | json_values,
        "max_completion_tokens": json_values,
        "n": st.integers(min_value=-1, max_value=200) | json_values,
        "temperature": json_values,
    },
)
raw_bodies = st.binary(max_size=64) | st.just(b"[]") | st.just(b'{"model": "fake"')


async def test_generated_bodies_get_a_2xx_or_an_openai_style_4xx_never_a_5xx(
    gateway: Gateway, js: JetStreamContext
) -> None:
    key, _ = await issue_key(js, budget_micro_usd=1_000_000_000)
    auth = {"authorization": f"Bearer {key}"}

    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(path=st.sampled_from(PATHS), body=bodies | json_values, raw=raw_bodies)
    def check(path: str, body: Any, raw: bytes) -> None:
        with httpx.Client(base_url=gateway.url, headers=auth, timeout=30) as http:
            for response in (http.post(path, json=body), http.post(path, content=raw)):
                assert_openai_answer(response)

    await asyncio.to_thread(check)


def assert_openai_answer(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["message"], str) and error["message"]
        assert {"type", "code"} <= set(error)
