"""Several gateways: each follows USAGE for the others' spend."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
from nats.js import JetStreamContext

from contracts.streams import USAGE
from tests.fakes.upstream import FakeUpstream
from tests.gateway.conftest import Gateway, issue_key, metered, start_gateway
from tests.gateway.test_budget_and_metering import wait_metered
from tests.positions import gateway_caught_up

CHAT: dict[str, Any] = {
    "model": "fake",
    "messages": [{"role": "user", "content": "one two three"}],
    "max_tokens": 10,
}
ONE_REQUEST = 3 * 10 + 10 * 100  # micro-USD at the test prices


def replicas(make_settings: Any, tmp: Any, gateways: list[Gateway]) -> tuple[Gateway, Gateway]:
    pair = tuple(
        start_gateway(make_settings(instance_id=f"gw-{n}", spool_dir=tmp / f"spool-{n}"))
        for n in (1, 2)
    )
    gateways.extend(pair)
    return pair  # type: ignore[return-value]


async def test_a_replica_counts_the_spend_of_another(
    make_settings: Any, js: JetStreamContext, gateways: list[Gateway], tmp_path: Any
) -> None:
    first, second = replicas(make_settings, tmp_path, gateways)
    key, issued = await issue_key(js)
    await gateway_caught_up(first.url, js)
    for _ in range(3):
        await first.client(key).chat.completions.create(**CHAT)
    await wait_metered(js, 3)  # the first replica has published its metering...
    await gateway_caught_up(second.url, js, USAGE)  # ...and the second has applied it
    assert second.proxy.state.budgets.account(issued.key_id).spent_micro == 3 * ONE_REQUEST
    assert first.proxy.state.budgets.account(issued.key_id).spent_micro == 3 * ONE_REQUEST


async def test_two_replicas_under_a_burst_stay_within_the_stated_bound(
    make_settings: Any,
    js: JetStreamContext,
    gateways: list[Gateway],
    tmp_path: Any,
    fake_upstream: tuple[FakeUpstream, str],
) -> None:
    fake_upstream[0].delay_seconds = 0.05
    first, second = replicas(make_settings, tmp_path, gateways)
    budget = 5 * ONE_REQUEST
    key, _ = await issue_key(js, budget_micro_usd=budget)
    clients = [g.client(key, max_retries=0) for g in (first, second)]
    results = await asyncio.gather(
        *(clients[n % 2].chat.completions.create(**CHAT) for n in range(40)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, BaseException)]
    # Refused while spent (402) or while other open requests hold the rest (429).
    assert all(
        isinstance(r, openai.APIStatusError) and r.status_code in (402, 429) for r in refused
    )
    served = len(results) - len(refused)
    for _ in range(100):
        events = await metered(js)
        if len(events) == served:
            break
        await asyncio.sleep(0.05)
    spent = sum(e.cost_micro_usd for e in events)
    max_cost = first.proxy.state.models["fake"].max_cost_micro(200, 10)
    # docs/gateway.md: N replicas overspend by at most N x (budget + one request's max cost)
    # minus the budget; with N = 2 that is budget + 2 x max cost.
    assert spent <= 2 * (budget + max_cost)
