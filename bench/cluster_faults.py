"""Budget leases in cluster mode: exact spend through HAProxy, faults under steady load.

Starts the cluster as ``aischool cluster up`` does (``bench/cluster_common.py``) and prints:

1. the first request of a fresh key (it takes the key's budget lease: one KV write) against
   the next ones, per gateway, milliseconds;
2. the budget race through HAProxy round-robin: 64 concurrent streams on one key, ``--rounds``
   times with random budgets and sizes; spend (from USAGE) against the budget;
3. steady load (``--clients`` keys, every other request streamed) while the NATS node leading
   USAGE is killed (SIGKILL) and started again, then gateway-2 is killed (SIGKILL): how long
   until the unused part of gateway-2's leases is back in the pool (another gateway's write
   takes it back after the lease's time, ``--lease-seconds``, and a second's grace), then
   gateway-2 is started again; requests served by the upstream, answered, in USAGE, in the
   ledger, lost and doubled; and how long each gateway takes to refuse a revoked key.

    .venv/bin/python -m bench.cluster_faults --rounds 20 --clients 12
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import openai
from nats.js import JetStreamContext

from bench.cluster_common import Cluster, load_average, running_cluster
from bench.faults import Load, client_loop, usage_counts, wait_for_ledger
from contracts.codec import decode
from contracts.events import RequestMetered
from contracts.streams import BUDGET_LEASES, USAGE
from infra.cluster import replica_names
from infra.messaging import connect
from services.gateway.domain import leases
from tests.gateway.test_budget_exact import CLIENTS, WORD

CHAT = {"model": "fast", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


async def stream(client: openai.AsyncOpenAI, words: int, max_tokens: int | None) -> int | str:
    """Completion tokens of one streamed answer, or the status that refused it."""
    try:
        chunks = await client.chat.completions.create(  # type: ignore[call-overload]
            model="fake",
            messages=[{"role": "user", "content": " ".join([WORD] * words)}],
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=openai.NOT_GIVEN if max_tokens is None else max_tokens,
        )
        usage = [c.usage.completion_tokens async for c in chunks if c.usage is not None]
    except openai.APIStatusError as exc:
        return str(exc.status_code)
    return int(usage[-1])


class Spend:
    """RequestMetered events from USAGE, by key, as they arrive."""

    def __init__(self) -> None:
        self.by_key: dict[str, list[RequestMetered]] = {}

    async def follow(self, js: JetStreamContext) -> None:
        async def on_message(msg: Any) -> None:
            event = decode(msg.data)
            if isinstance(event, RequestMetered):
                self.by_key.setdefault(str(event.key_id), []).append(event)

        await js.subscribe(
            f"{USAGE.subject_prefix}.>", stream=USAGE.name, ordered_consumer=True, cb=on_message
        )

    async def wait(self, key_id: str, count: int) -> int:
        """The key's spend once ``count`` of its answered requests arrived (or a minute)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            events = self.by_key.get(key_id, [])
            if sum(1 for e in events if e.status == 200) >= count:
                break
            await asyncio.sleep(0.05)
        return sum(e.cost_micro_usd for e in self.by_key.get(key_id, []))


async def first_requests(cluster: Cluster, keys: int) -> None:
    print("\n## First request of a key (takes its lease) against the next ones")
    issued = await asyncio.to_thread(cluster.issue, "first-", ["5.00"] * keys)
    for name in replica_names("gateway"):
        firsts: list[float] = []
        laters: list[float] = []
        for _, key in issued:
            auth = {"authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(base_url=cluster.url(name), headers=auth) as http:
                for n in range(6):
                    started = time.perf_counter()
                    reply = await http.post("/v1/chat/completions", json=CHAT)
                    assert reply.status_code == 200, reply.text
                    (firsts if n == 0 else laters).append((time.perf_counter() - started) * 1000)
        print(
            f"{name}: first request median {statistics.median(firsts):.1f} ms,"
            f" later requests median {statistics.median(laters):.1f} ms ({len(issued)} keys)"
        )


async def lease_write_ms(js: JetStreamContext, count: int = 50) -> None:
    """What a key's first request adds: one compare-and-set write to the lease bucket (R3)."""
    kv = await js.key_value(BUDGET_LEASES)
    times = []
    for _ in range(count):
        name, started = f"bench-{uuid.uuid4()}", time.perf_counter()
        await kv.update(name, b"{}", last=0)
        times.append((time.perf_counter() - started) * 1000)
        await kv.purge(name)
    print(
        f"one lease write (create by compare-and-set, 3 replicas): median"
        f" {statistics.median(times):.1f} ms, p95 {sorted(times)[int(0.95 * count)]:.1f} ms"
    )


async def budget_race(cluster: Cluster, spend: Spend, rounds: int, seed: int) -> None:
    print(f"\n## Budget race through HAProxy round-robin: {CLIENTS} streams on one key")
    rng = random.Random(seed)
    # Whole cents (the keys API takes no less): $0.01 pays for one large request at most.
    budgets = [10_000 * rng.randint(1, 6) for _ in range(rounds)]
    issued = await asyncio.to_thread(cluster.issue, "race-", [f"{b / 1e6:.6f}" for b in budgets])
    served = over = 0
    refusals: Counter[str] = Counter()
    worst = 0.0
    started = time.perf_counter()
    for budget, (key_id, key) in zip(budgets, issued, strict=True):
        client = openai.AsyncOpenAI(
            base_url=cluster.url("gateway") + "/v1", api_key=key, max_retries=0
        )
        sizes = [(rng.randint(1, 400), rng.choice([None, 5, 20, 50])) for _ in range(CLIENTS)]
        answers = await asyncio.gather(*(stream(client, w, m) for w, m in sizes))
        await client.close()
        ok = sum(1 for a in answers if isinstance(a, int))
        spent = await spend.wait(key_id, ok)
        served += ok
        refusals.update(a for a in answers if isinstance(a, str))
        over += spent > budget
        worst = max(worst, spent / budget)
    seconds = time.perf_counter() - started
    print(f"rounds {rounds}, {seconds:.0f} s; served {served}, refused by status {dict(refusals)}")
    print(f"rounds over budget: {over}; largest spend / budget: {worst:.1%}")


async def lease_of(js: JetStreamContext, key_ids: list[str], gateway: str) -> tuple[int, int]:
    """Over the keys: what ``gateway`` was granted and what it may have used (its keep)."""
    kv = await js.key_value(BUDGET_LEASES)
    granted = keep = 0
    for key_id in key_ids:
        entry = await kv.get(key_id)
        lease = leases.decode(entry.value or b"").leases.get(gateway)
        if lease is not None:
            granted, keep = granted + lease.granted, keep + lease.keep
    return granted, keep


async def ready(url: str) -> None:
    """Wait until a restarted replica's /readyz is green (it replays KEYS and USAGE)."""
    async with httpx.AsyncClient(base_url=url) as http:
        for _ in range(1200):
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} not ready")


async def refusal_ms(cluster: Cluster) -> dict[str, float | None]:
    """Issue a key, use it on every gateway, revoke it: ms until each gateway refuses it."""
    ((key_id, key),) = await asyncio.to_thread(cluster.issue, "revoke-", ["1.00"])
    auth = {"authorization": f"Bearer {key}"}
    clients = {
        n: httpx.AsyncClient(base_url=cluster.url(n), headers=auth)
        for n in replica_names("gateway")
    }
    for http in clients.values():
        while (await http.post("/v1/chat/completions", json=CHAT)).status_code != 200:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    with cluster.admin() as admin:
        admin.post(f"/keys/{key_id}/revoke", json={"reason": "bench"}).raise_for_status()
    revoked = time.perf_counter()

    async def until_refused(http: httpx.AsyncClient) -> float | None:
        while time.perf_counter() - revoked < 10:
            if (await http.get("/v1/models")).status_code == 401:
                return (time.perf_counter() - revoked) * 1000
            await asyncio.sleep(0.005)
        return None

    found = await asyncio.gather(*(until_refused(h) for h in clients.values()))
    for http in clients.values():
        await http.aclose()
    return dict(zip(clients, found, strict=True))


async def soak(cluster: Cluster, js: JetStreamContext, clients: int, lease_seconds: float) -> None:
    print(f"\n## Steady load, {clients} keys through HAProxy: a NATS node and a gateway killed")
    issued = await asyncio.to_thread(cluster.issue, "load-", ["100.00"] * clients)
    first = len(cluster.fake.headers)
    load = Load()
    body_url = cluster.url("gateway")
    tasks = [
        asyncio.create_task(client_loop(body_url, k, load, n)) for n, (_, k) in enumerate(issued)
    ]
    stack = cluster.stack
    assert stack.cluster is not None
    await asyncio.sleep(5)
    leader = (await js.stream_info(USAGE.name)).cluster.leader  # type: ignore[union-attr]
    index = int(str(leader).rsplit("-", 1)[1]) - 1
    process = stack.cluster.nodes[index].process
    assert process is not None
    process.kill()
    process.wait()
    stack.cluster.nodes[index].process = None
    print(f"killed {leader} (USAGE leader); starting it again in 5 s", flush=True)
    await asyncio.sleep(5)
    await asyncio.to_thread(stack.cluster.restart_node, index)
    await asyncio.sleep(5)
    key_ids = [key_id for key_id, _ in issued]
    held, keep = await lease_of(js, key_ids, "2")
    gateway = stack.processes["gateway-2"]
    gateway.kill()
    gateway.wait()
    killed = time.perf_counter()
    print(f"killed gateway-2 holding {held} µUSD of leases (keep {keep})", flush=True)
    while time.perf_counter() - killed < 10 * lease_seconds:
        granted, _ = await lease_of(js, key_ids, "2")
        if granted <= keep:
            break
        await asyncio.sleep(0.2)
    back = time.perf_counter() - killed
    print(f"its unused leases ({held - granted} µUSD) back in the pool after {back:.1f} s")
    await asyncio.to_thread(stack.restart_replica, "gateway-2")
    restarted = time.perf_counter()
    await ready(cluster.url("gateway-2"))
    print(f"gateway-2 started again, ready after {time.perf_counter() - restarted:.1f} s")
    await asyncio.sleep(5)
    load.running = False
    await asyncio.gather(*tasks)
    await asyncio.sleep(5)  # the gateways' metering queues empty
    refused = await refusal_ms(cluster)
    usage, _ = await usage_counts(stack.cluster.urls[0])
    served = {h["x-client-request-id"] for h in cluster.fake.headers[first:]}
    assert stack.database_url is not None
    ledger = await asyncio.to_thread(wait_for_ledger, stack.database_url, served)
    metered = {i for i in served if usage[i]}
    stored = {i for i in served if ledger[i]}
    doubled = sum(1 for i in served if usage[i] > 1 or ledger[i] > 1)
    lost = len(served - (metered & stored))
    print("| served | answered | metered | in ledger | lost | doubled |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {len(served)} | {len(served & load.answered)} | {len(metered)} | {len(stored)}"
        f" | {lost} | {doubled} |"
    )
    print(f"client-side failures: {dict(load.failures)}")
    shown = {n: "never" if ms is None else f"{ms:.0f} ms" for n, ms in refused.items()}
    print(f"revoked key refused after: {shown}")


async def run(cluster: Cluster, args: argparse.Namespace) -> None:
    stack = cluster.stack
    assert stack.cluster is not None
    nc = await connect(stack.cluster.urls[0], "bench-cluster")
    js = nc.jetstream(timeout=10)
    spend = Spend()
    await spend.follow(js)
    print(f"load average before: {load_average()}")
    await first_requests(cluster, args.first_keys)
    await lease_write_ms(js)
    await budget_race(cluster, spend, args.rounds, args.seed)
    await soak(cluster, js, args.clients, args.lease_seconds)
    print(f"\nload average after: {load_average()}")
    await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--first-keys", type=int, default=10)
    parser.add_argument("--lease-seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp,
        running_cluster(Path(tmp), args.lease_seconds) as cluster,
    ):
        asyncio.run(run(cluster, args))


if __name__ == "__main__":
    main()
