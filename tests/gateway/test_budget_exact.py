"""A budget is never exceeded: many concurrent streams on one key, random budgets and sizes."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import openai
import pytest
from nats.js import JetStreamContext

from tests.fakes.upstream import FakeUpstream
from tests.gateway.conftest import Gateway, issue_key, metered, start_gateway

ROUNDS = 100  # as the issue asks; bench/budget_race.py prints the figures of the same race
CLIENTS = 64


# Four bytes a word: the upstream counts no more tokens than our estimate (one per three
# bytes), the condition under which the budget holds exactly (docs/gateway.md).
WORD = "code"


async def _stream(client: openai.AsyncOpenAI, words: int, max_tokens: int | None) -> int:
    """Completion tokens of one streamed answer (0 when refused with 402 or 429)."""
    try:
        stream = await client.chat.completions.create(  # type: ignore[call-overload]
            model="fake",
            messages=[{"role": "user", "content": " ".join([WORD] * words)}],
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=openai.NOT_GIVEN if max_tokens is None else max_tokens,
        )
        usage = [c.usage.completion_tokens async for c in stream if c.usage is not None]
    except openai.APIStatusError as exc:
        assert exc.status_code in (402, 429), exc
        return 0
    return int(usage[-1])


async def test_concurrent_streams_on_one_key_never_spend_past_its_budget(
    gateway: Gateway, js: JetStreamContext, fake_upstream: tuple[FakeUpstream, str]
) -> None:
    rng = random.Random(20261202)
    served_total, refused_total, capped = 0, 0, 0
    for _ in range(ROUNDS):
        budget = rng.randint(500, 60_000)  # from less than one request to a dozen
        key, issued = await issue_key(js, budget_micro_usd=budget)
        client = gateway.client(key, max_retries=0)
        sizes = [(rng.randint(1, 400), rng.choice([None, 5, 20, 50])) for _ in range(CLIENTS)]
        answers = await asyncio.gather(*(_stream(client, w, m) for w, m in sizes))
        served = sum(1 for a in answers if a)
        events = await _wait_metered(js, issued.key_id, served)
        spent = sum(e.cost_micro_usd for e in events)
        assert spent <= budget, (budget, spent)
        served_total += served
        refused_total += CLIENTS - served
        capped += sum(1 for e in events if e.completion_tokens < 50)
    # The race was real: some requests were refused, many served, and caps were lowered.
    assert served_total > ROUNDS and refused_total > ROUNDS and capped > 0


async def _wait_metered(js: JetStreamContext, key_id: object, count: int) -> list:  # type: ignore[type-arg]
    async with asyncio.timeout(20):
        while True:
            mine = [e for e in await metered(js) if e.key_id == key_id]
            if len(mine) >= count:
                return mine
            await asyncio.sleep(0.05)


async def test_a_request_the_budget_left_cannot_pay_for_gets_its_max_tokens_lowered(
    js: JetStreamContext,
    make_settings: Any,
    gateways: list[Gateway],
    fake_upstream: tuple[FakeUpstream, str],
) -> None:
    fake = fake_upstream[0]
    gateway = start_gateway(make_settings(min_answer_tokens=5))
    gateways.append(gateway)
    # The prompt's estimate is about 27 tokens ($0.00027 at $10/M); $0.001 leaves enough
    # for 7 tokens of answer at $100/M, not the 50 asked for.
    key, issued = await issue_key(js, budget_micro_usd=1_000)
    client = gateway.client(key, max_retries=0)
    answer = await client.chat.completions.create(
        model="fake", messages=[{"role": "user", "content": "hi"}], max_tokens=50
    )
    assert 5 <= fake.requests[-1]["max_tokens"] < 50
    assert answer.usage is not None and answer.usage.completion_tokens < 50
    spent = sum(e.cost_micro_usd for e in await _wait_metered(js, issued.key_id, 1))
    assert spent <= 1_000
    with pytest.raises(openai.APIStatusError) as refused:
        await client.chat.completions.create(
            model="fake", messages=[{"role": "user", "content": "hi"}], max_tokens=50
        )
    left = f"${(1_000 - spent) / 1_000_000:.5f}".rstrip("0")
    assert refused.value.status_code == 402
    assert f" and {left} is left of this key's budget of $0.001." in refused.value.message
