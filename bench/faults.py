"""Faults under steady load: the whole system, one fault at a time, nothing lost or doubled.

The four services run as processes (``infra.supervisor.Stack``) on an embedded NATS and
PostgreSQL, the LLM is the tests' fake upstream (which logs every request it served, by the
gateway's request id). Clients keep sending chats (every other one streamed) while, one after
the other, NATS and PostgreSQL are stopped for ``--hold`` seconds, and the ledger, the gateway
(mid-stream) and the keys service are killed with SIGKILL and started again. After each
fault a key is revoked and tried until the gateway refuses it. At the end, per scenario:
requests served by the upstream, answered to the client, metered in USAGE, in the ledger,
lost (served, never metered) and doubled (metered or stored twice).

    .venv/bin/python -m bench.faults --clients 16 --hold 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from contracts.codec import decode
from contracts.events import RequestMetered
from contracts.streams import USAGE
from infra.embedded import EmbeddedNats, EmbeddedPostgres
from infra.messaging import connect
from infra.supervisor import Stack
from tests.fakes.upstream import FakeUpstream, ServerThread

MODELS = """[models.fake]
base_url = "{url}"
upstream_model = "fake-model"
input_usd_per_million = 10
output_usd_per_million = 100
max_output_tokens = 50
"""
SCHOOL = {"school_id": "bench", "name": "Bench College", "time_zone": "UTC"}


@dataclass
class Load:
    """What the clients saw: request ids answered in full, and failures by kind."""

    answered: set[str] = field(default_factory=set)
    failures: Counter[str] = field(default_factory=Counter)
    running: bool = True


@dataclass
class Scenario:
    name: str
    first: int  # index into the upstream's log where the scenario began
    last: int = 0
    refused_after_ms: float | None = None


async def client_loop(url: str, key: str, load: Load, number: int) -> None:
    body: dict[str, Any] = {"model": "fake", "max_tokens": 20}
    auth = {"authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=auth, timeout=30) as http:
        n = 0
        while load.running:
            n += 1
            messages = [{"role": "user", "content": f"client {number} request {n}"}]
            try:
                response = await http.post(
                    "/v1/chat/completions",
                    json={**body, "messages": messages, "stream": n % 2 == 0},
                )
                if response.status_code == 200:
                    load.answered.add(response.headers["x-request-id"])
                else:
                    load.failures[str(response.status_code)] += 1
                    await asyncio.sleep(0.2)
            except httpx.HTTPError as exc:
                load.failures[type(exc).__name__] += 1
                await asyncio.sleep(0.2)


class Bench:
    """The running system and the admin calls the scenarios need."""

    def __init__(self, root: Path, clients: int) -> None:
        self.root, self.clients = root, clients
        self.nats = EmbeddedNats(root / "nats")
        self.pg = EmbeddedPostgres(root / "pg" / "data")
        self.fake = FakeUpstream(chunk_delay_seconds=0.02)
        self.keys: list[str] = []
        self.token = ""

    def start(self, upstream_url: str) -> None:
        self.nats.start()
        self.pg.start()
        database = self.pg.create_database("aischool")
        models = self.root / "models.toml"
        models.write_text(MODELS.format(url=upstream_url))
        os.environ.update(
            AISCHOOL_MODELS_FILE=str(models),
            AISCHOOL_STUDENT_REQUESTS_PER_MINUTE="100000",
            AISCHOOL_STUDENT_CONCURRENT_REQUESTS="100",
            AISCHOOL_LOG_LEVEL="WARNING",
        )
        self.stack = Stack(self.root / "data", nats_url=self.nats.url, database_url=database)
        self.stack.data_dir.mkdir(parents=True)
        self.stack.start_services()
        self.stack.wait_ready(timeout=300)
        self.token = self.stack.bootstrap_admin() or ""

    def start_nats(self) -> None:
        self.nats.start()  # same port, same store

    def start_pg(self) -> None:
        self.pg.start()

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.stack.ports[service]}"

    def admin(self) -> httpx.Client:
        auth = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.url("keys"), headers=auth, timeout=60)

    def issue_keys(self, count: int, prefix: str) -> list[tuple[str, str]]:
        users = [
            {"user_id": f"{prefix}{n}", "role": "student", "given_name": "S", "family_name": str(n)}
            | {"school_ids": ["bench"], "account": f"{prefix}{n}@bench.example"}
            for n in range(count)
        ]
        with self.admin() as admin:
            for _ in range(100):  # the new admin token reaches the read model in a moment
                reply = admin.post("/directory", json={"schools": [SCHOOL], "users": users})
                if reply.status_code != 401:
                    break
                time.sleep(0.1)
            assert reply.status_code == 200, reply.text
            issued = []
            for user in users:
                key = admin.post(f"/users/{user['user_id']}/keys", json={"budget_usd": "100.00"})
                assert key.status_code == 201, key.text
                issued.append((key.json()["key_id"], key.json()["key"]))
        return issued

    def kill(self, service: str) -> Callable[[], None]:
        def fault() -> None:
            os.kill(self.stack.processes[service].pid, signal.SIGKILL)
            self.stack.processes[service].wait()

        return fault

    def restart(self, service: str) -> Callable[[], None]:
        return lambda: self.stack.start_service(service)


async def revocation_ms(bench: Bench, prefix: str) -> float | None:
    """Issue a key, use it, revoke it; milliseconds until the gateway refuses it."""
    ((key_id, key),) = await asyncio.to_thread(bench.issue_keys, 1, prefix)
    chat = {"model": "fake", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}
    auth = {"authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=bench.url("gateway"), headers=auth) as http:
        for _ in range(200):
            if (await http.post("/v1/chat/completions", json=chat)).status_code == 200:
                break
            await asyncio.sleep(0.05)
        with bench.admin() as admin:
            admin.post(f"/keys/{key_id}/revoke", json={"reason": "bench"}).raise_for_status()
        revoked_at = time.perf_counter()
        while time.perf_counter() - revoked_at < 10:
            if (await http.post("/v1/chat/completions", json=chat)).status_code == 401:
                return (time.perf_counter() - revoked_at) * 1000
            await asyncio.sleep(0.005)
    return None


async def run_scenario(
    bench: Bench, name: str, fault: Callable[[], None], heal: Callable[[], None], hold: float
) -> Scenario:
    scenario = Scenario(name, len(bench.fake.headers))
    await asyncio.sleep(3)
    print(f"{name}: fault", flush=True)
    await asyncio.to_thread(fault)
    await asyncio.sleep(hold)
    await asyncio.to_thread(heal)
    await asyncio.to_thread(bench.stack.wait_ready, 300)
    print(f"{name}: healed", flush=True)
    await asyncio.sleep(3)
    scenario.last = len(bench.fake.headers)
    slug = "".join(c for c in name.lower() if c.isalnum())[:12]
    scenario.refused_after_ms = await revocation_ms(bench, f"rev-{slug}-")
    return scenario


async def usage_counts(nats_url: str) -> tuple[Counter[str], int]:
    """Request ids in USAGE with how often each is there, and the stream's last sequence."""
    nc = await connect(nats_url, "bench-faults")
    js = nc.jetstream()
    counts: Counter[str] = Counter()
    last = (await js.stream_info(USAGE.name)).state.last_seq
    done = asyncio.Event()

    async def on_message(msg: Any) -> None:
        event = decode(msg.data)
        if isinstance(event, RequestMetered):
            counts[str(event.request_id)] += 1
        if msg.metadata.sequence.stream >= last:
            done.set()

    subscription = await js.subscribe(
        f"{USAGE.subject_prefix}.>", stream=USAGE.name, ordered_consumer=True, cb=on_message
    )
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), 60)
    await subscription.unsubscribe()
    await nc.close()
    return counts, last


def ledger_counts(database_url: str) -> Counter[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT request_id::text FROM ledger.requests").fetchall()
    return Counter(row[0] for row in rows)


def wait_for_ledger(database_url: str, expected: set[str], timeout: float = 120) -> Counter[str]:
    deadline = time.monotonic() + timeout
    while True:
        counts = ledger_counts(database_url)
        if expected <= set(counts) or time.monotonic() > deadline:
            return counts
        time.sleep(1)


def report(bench: Bench, scenarios: list[Scenario], load: Load, usage: Counter[str]) -> None:
    served_all = {h["x-client-request-id"] for h in bench.fake.headers}
    ledger = wait_for_ledger(bench.pg.url("aischool"), served_all)
    print()
    header = ("scenario", "served", "answered", "metered", "in ledger", "lost", "doubled")
    print("| " + " | ".join(header) + " | revoked key refused after |")
    print("|" + "---|" * (len(header) + 1))
    for s in scenarios:
        served = {h["x-client-request-id"] for h in bench.fake.headers[s.first : s.last]}
        metered = {i for i in served if usage[i]}
        stored = {i for i in served if ledger[i]}
        doubled = sum(1 for i in served if usage[i] > 1 or ledger[i] > 1)
        refused = "never" if s.refused_after_ms is None else f"{s.refused_after_ms:.0f} ms"
        row = (s.name, len(served), len(served & load.answered), len(metered), len(stored))
        lost = len(served - (metered & stored))
        print("| " + " | ".join(map(str, (*row, lost, doubled))) + f" | {refused} |")
    print(f"\nclient-side failures (all scenarios): {dict(load.failures)}")


async def main(clients: int, hold: float) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    bench = Bench(root, clients)
    with ServerThread(bench.fake.app()) as upstream:
        await asyncio.to_thread(bench.start, f"{upstream.url}/v1")
        try:
            await run(bench, clients, hold)
        finally:
            bench.stack.stop()
            bench.nats.stop()
            bench.pg.stop()


async def run(bench: Bench, clients: int, hold: float) -> None:
    keys = await asyncio.to_thread(bench.issue_keys, clients, "load-")
    load = Load()
    tasks = [
        asyncio.create_task(client_loop(bench.url("gateway"), key, load, n))
        for n, (_, key) in enumerate(keys)
    ]
    faults: list[tuple[str, Callable[[], None], Callable[[], None], float]] = [
        ("NATS stopped", bench.nats.stop, bench.start_nats, hold),
        ("PostgreSQL stopped", bench.pg.stop, bench.start_pg, hold),
        ("ledger killed", bench.kill("ledger"), bench.restart("ledger"), 5),
        ("gateway killed mid-stream", bench.kill("gateway"), bench.restart("gateway"), 2),
        ("keys killed", bench.kill("keys"), bench.restart("keys"), 5),
    ]
    scenarios = [await run_scenario(bench, *fault) for fault in faults]
    load.running = False
    await asyncio.gather(*tasks)
    await asyncio.sleep(5)  # the gateway's metering queue empties
    usage, _ = await usage_counts(bench.nats.url)
    report(bench, scenarios, load, usage)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--hold", type=float, default=10.0, help="seconds NATS / PostgreSQL stay down"
    )
    args = parser.parse_args()
    asyncio.run(main(args.clients, args.hold))
