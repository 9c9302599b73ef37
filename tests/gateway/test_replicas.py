"""Several gateways: each follows USAGE for the others' spend and admits within its budget
lease (services/gateway/domain/leases.py), so together they never spend past a key's budget."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import openai
import pytest
from nats.js import JetStreamContext

from contracts.events import ChatCreated
from contracts.streams import BUDGET_LEASES, USAGE
from infra.embedded import EmbeddedNats
from services.gateway.domain import leases
from services.gateway.domain.leases import Lease, LeaseTable
from tests.fakes.upstream import FakeUpstream
from tests.gateway.conftest import Gateway, issue_key, start_gateway, usage_events
from tests.gateway.test_budget_and_metering import wait_metered
from tests.gateway.test_budget_exact import CLIENTS, _stream, _wait_metered
from tests.gateway.test_chats import load
from tests.positions import gateway_caught_up

ROUNDS = 5  # bench/cluster_faults.py runs three gateways longer, through HAProxy

CHAT: dict[str, Any] = {
    "model": "fake",
    "messages": [{"role": "user", "content": "one two three"}],
    "max_tokens": 10,
}
ONE_REQUEST = 3 * 10 + 10 * 100  # micro-USD at the test prices


def replicas(
    make_settings: Any, tmp: Any, gateways: list[Gateway], count: int = 2
) -> list[Gateway]:
    started = [
        start_gateway(make_settings(instance_id=f"gw-{n}", spool_dir=tmp / f"spool-{n}"))
        for n in range(1, count + 1)
    ]
    gateways.extend(started)
    return started


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


async def test_three_replicas_round_robin_never_spend_past_the_budget(
    make_settings: Any,
    js: JetStreamContext,
    gateways: list[Gateway],
    tmp_path: Any,
    fake_upstream: tuple[FakeUpstream, str],
) -> None:
    trio = replicas(make_settings, tmp_path, gateways, count=3)
    rng = random.Random(20261203)
    served = refused = 0
    for _ in range(ROUNDS):
        budget = rng.randint(500, 60_000)  # from less than one request to a dozen
        key, issued = await issue_key(js, budget_micro_usd=budget)
        clients = [g.client(key, max_retries=0) for g in trio]
        sizes = [(rng.randint(1, 400), rng.choice([None, 5, 20, 50])) for _ in range(CLIENTS)]
        answers = await asyncio.gather(
            *(_stream(clients[n % 3], w, m) for n, (w, m) in enumerate(sizes))
        )
        ok = sum(1 for a in answers if a)
        spent = sum(e.cost_micro_usd for e in await _wait_metered(js, issued.key_id, ok))
        assert spent <= budget, (budget, spent)
        served, refused = served + ok, refused + CLIENTS - ok
    assert served > ROUNDS and refused > ROUNDS  # the race was real


async def test_a_lease_left_by_a_killed_replica_comes_back_to_the_pool_when_it_expires(
    gateway: Gateway, js: JetStreamContext
) -> None:
    budget = 20 * ONE_REQUEST
    key, issued = await issue_key(js, budget_micro_usd=budget)
    # A replica killed after taking nearly all of the budget and using none of it.
    expires = datetime.now(UTC) + timedelta(seconds=2)
    dead = Lease(budget - 100, 0, 0, int(expires.timestamp() * 1000))
    table = LeaseTable(issued.period_start, budget, {"gw-killed": dead})
    await (await js.key_value(BUDGET_LEASES)).put(str(issued.key_id), leases.encode(table))
    client = gateway.client(key, max_retries=0)
    with pytest.raises(openai.RateLimitError, match="held by its requests on other gateways"):
        await client.chat.completions.create(**CHAT)
    # Its grant holds until it expires and a second's grace: then it is taken back.
    async with asyncio.timeout(10):
        while True:
            try:
                await client.chat.completions.create(**CHAT)
                break
            except openai.RateLimitError:
                assert datetime.now(UTC) < expires + timedelta(seconds=8)
                await asyncio.sleep(0.2)
    assert datetime.now(UTC) >= expires + timedelta(seconds=1)
    stored = await (await js.key_value(BUDGET_LEASES)).get(str(issued.key_id))
    assert stored.value is not None
    after = leases.decode(stored.value)
    assert after.leases["gw-killed"].granted == 0 and after.granted() <= budget


async def test_a_replica_cut_off_from_nats_serves_within_its_lease_and_refuses_beyond(
    gateway: Gateway, js: JetStreamContext, nats_server: EmbeddedNats
) -> None:
    key, issued = await issue_key(js, budget_micro_usd=40 * ONE_REQUEST)
    client = gateway.client(key, max_retries=0)
    await client.chat.completions.create(**CHAT)  # takes the key's lease
    lease = gateway.proxy.state.budgets.account(issued.key_id).lease
    assert lease is not None
    await asyncio.to_thread(nats_server.stop)
    try:
        served = 0
        with pytest.raises(openai.RateLimitError, match="cannot reach its budget store"):
            for _ in range(40):
                await client.chat.completions.create(**CHAT)
                served += 1
        # Served within the slice it held (up to its limit), nothing past it.
        spent = gateway.proxy.state.budgets.account(issued.key_id).own_micro
        assert served >= 1 and spent <= lease.limit
    finally:
        await asyncio.to_thread(nats_server.start)
    async with asyncio.timeout(20):
        while True:
            try:
                await client.chat.completions.create(**CHAT)
                break
            except openai.RateLimitError:
                await asyncio.sleep(0.2)


async def test_an_aider_conversation_continued_on_another_replica_stays_one_chat(
    make_settings: Any, js: JetStreamContext, gateways: list[Gateway], tmp_path: Any
) -> None:
    first, second = replicas(make_settings, tmp_path, gateways)
    key, issued = await issue_key(js)
    runs = [r["body"] for r in load("aider_sessions.json")[:3]]  # one conversation, three runs
    for n, body in enumerate(runs):
        gateway = (first, second)[n % 2]
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
            answer = await http.post(
                "/v1/chat/completions",
                json={**body, "model": "fake"},
                headers={"authorization": f"Bearer {key}"},
            )
            assert answer.status_code == 200
        # The next replica has read this chat's ChatCreated from USAGE before it is asked.
        async with asyncio.timeout(10):
            while (first, second)[(n + 1) % 2].proxy.chats.footprint(issued.key_id)[0] < 1:
                await asyncio.sleep(0.02)
    events = await _wait_metered(js, issued.key_id, 3)
    assert len({e.chat_id for e in events}) == 1
    created = [e for e in await usage_events(js) if isinstance(e, ChatCreated)]
    assert [c.title for c in created if c.key_id == issued.key_id] == [
        "Make hello print a friendlier greeting"
    ]
