"""``aischool cluster up``: three NATS nodes, three gateways behind HAProxy, and no leftovers.

The cluster runs as a user starts it; the test is an administrator issuing a key and a student
calling the Coding endpoint through HAProxy with the openai SDK. One NATS node is killed on the
way: the streams keep their quorum and the requests are still served and metered; then one
gateway is killed, HAProxy serves from the other two, and the killed gateway's unused budget
lease comes back to the pool when it expires.
Deselect with ``-m "not cluster"`` (it needs Debian's haproxy, which ``make install`` installs).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
import openai
import psutil
import pytest

from contracts.streams import BUDGET_LEASES
from infra.messaging import connect
from services.gateway.domain import leases
from services.gateway.domain.leases import Lease
from tests.e2e.test_flow import DEMO_INPUT, DEMO_OUTPUT, poll
from tests.e2e.test_up import read_until

pytestmark = pytest.mark.cluster

DIRECTORY = {
    "schools": [{"school_id": "north", "name": "North College", "time_zone": "UTC"}],
    "users": [
        {
            "user_id": "s1",
            "role": "student",
            "given_name": "Ada",
            "family_name": "Alpha",
            "school_ids": ["north"],
            "account": "ada@north.example",
        }
    ],
    "groups": [],
}


@dataclass
class Cluster:
    """The running ``cluster up`` process and what it printed."""

    process: subprocess.Popen[str]
    output: str
    children: list[psutil.Process]

    def url(self, label: str) -> str:
        found = re.search(rf"{label}.*?(http://127\.0\.0\.1:\d+)", self.output)
        assert found, f"no {label} URL in:\n{self.output}"
        return found.group(1)

    @property
    def gateway_replicas(self) -> list[str]:
        line = next(ln for ln in self.output.splitlines() if "Gateways (" in ln)
        return re.findall(r"http://127\.0\.0\.1:\d+", line)

    @property
    def nats_url(self) -> str:
        found = re.search(r"(nats://\S+)", self.output)
        assert found
        return found.group(1).split(",")[0]

    @property
    def nats_urls(self) -> list[str]:
        found = re.search(r"(nats://\S+)", self.output)
        assert found
        return found.group(1).split(",")

    @property
    def token(self) -> str:
        found = re.search(r"ais-admin-\w+", self.output)
        assert found
        return found.group(0)

    def _running(self) -> list[tuple[psutil.Process, list[str]]]:
        found = []
        for child in self.children:
            # Short-lived helpers (pg_isready, create-admin) are gone by now.
            with contextlib.suppress(psutil.NoSuchProcess):
                found.append((child, child.cmdline()))
        return found

    def service(self, url: str) -> psutil.Process:
        port = url.rsplit(":", 1)[1]
        return next(c for c, cmd in self._running() if _option(cmd, "--port") == port)

    def nats_node(self, name: str) -> psutil.Process:
        config = f"/{name}/nats.conf"
        return next(c for c, cmd in self._running() if any(config in a for a in cmd))


def _option(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command[:-1] else None


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AISCHOOL_")}
    env["AISCHOOL_RENDER_PROCESSES"] = "0"  # no key sheets here: spare the two cores
    env["AISCHOOL_BUDGET_LEASE_SECONDS"] = "5"  # a killed gateway's lease returns in 6 s
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "cluster", "up", "--data-dir", str(tmp_path / "c")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        output = read_until(process, "Press Ctrl-C", timeout=180)
        children = psutil.Process(process.pid).children(recursive=True)
        yield Cluster(process, output, children)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=60)
        if process.stdout is not None:
            process.stdout.close()


async def stream_replicas(url: str) -> dict[str, tuple[int | None, str | None, int]]:
    """Per stream: configured replicas, its leader, and how many followers are current."""
    nc = await connect(url, "test")
    try:
        js = nc.jetstream()
        found = {}
        for name in ("KEYS", "USAGE"):
            info = await js.stream_info(name)
            assert info.cluster is not None
            current = sum(1 for r in info.cluster.replicas or [] if r.current)
            found[name] = (info.config.num_replicas, info.cluster.leader, current)
        return found
    finally:
        await nc.close()


async def lease_of(urls: list[str], key_id: str, gateway: str) -> Lease | None:
    """The gateway's entry in the key's budget lease table (from any live NATS node)."""
    nc = await nats.connect(servers=urls, connect_timeout=2)
    try:
        entry = await (await nc.jetstream().key_value(BUDGET_LEASES)).get(key_id)
        return leases.decode(entry.value or b"").leases.get(gateway)
    finally:
        await nc.close()


def ask(client: openai.OpenAI, text: str) -> tuple[str, int]:
    """One chat completion through HAProxy: which gateway answered, and its cost."""
    raw = client.chat.completions.with_raw_response.create(
        model="demo", messages=[{"role": "user", "content": text}]
    )
    usage = raw.parse().usage
    assert usage is not None
    cost = usage.prompt_tokens * DEMO_INPUT + usage.completion_tokens * DEMO_OUTPUT
    return raw.headers["x-aischool-replica"], cost


def ledger_shows(ledger: httpx.Client, key_id: str, requests: int) -> dict[str, Any] | None:
    report = ledger.get("/reports/keys", params={"key_id": key_id})
    total = report.json()["total"] if report.status_code == 200 else None
    return total if total and total["requests"] == requests else None


def refuses(gateway: str, key: str) -> bool:
    answer = httpx.get(f"{gateway}/v1/models", headers={"Authorization": f"Bearer {key}"})
    return answer.status_code == 401


def test_cluster_serves_through_haproxy_survives_a_nats_node_and_a_gateway_and_stops_clean(
    cluster: Cluster,
) -> None:
    auth = {"Authorization": f"Bearer {cluster.token}"}
    with (
        httpx.Client(base_url=cluster.url("Keys admin API"), headers=auth, timeout=30) as admin,
        httpx.Client(base_url=cluster.url("Ledger reports API"), headers=auth) as ledger,
    ):
        assert admin.post("/directory", json=DIRECTORY).status_code == 200
        issued = admin.post("/users/s1/keys", json={"budget_usd": "5.00"})
        assert issued.status_code == 201, issued.text
        key, key_id = issued.json()["key"], issued.json()["key_id"]

        endpoint = cluster.url("Coding endpoint") + "/v1"
        with openai.OpenAI(base_url=endpoint, api_key=key, max_retries=0) as client:
            served = [ask(client, f"Explain step {i} of the loop") for i in range(6)]
            assert {replica for replica, _ in served} == {"gateway-1", "gateway-2", "gateway-3"}
            total = poll(lambda: ledger_shows(ledger, key_id, 6))
            assert total is not None, "the ledger never showed the six requests"
            assert total["cost_micro_usd"] == sum(cost for _, cost in served)

            streams = asyncio.run(stream_replicas(cluster.nats_url))
            assert {name: (r, current) for name, (r, _, current) in streams.items()} == {
                "KEYS": (3, 2),
                "USAGE": (3, 2),
            }

            # Kill the node leading USAGE: the two others elect a new leader and carry on.
            leader = streams["USAGE"][1]
            assert leader is not None
            cluster.nats_node(leader).kill()
            after = [ask(client, f"And step {i} once more?") for i in range(6)]
            assert len({replica for replica, _ in after}) == 3
            total = poll(lambda: ledger_shows(ledger, key_id, 12), timeout=60)
            assert total is not None, "requests served after the node died never reached the ledger"
            assert total["cost_micro_usd"] == sum(cost for _, cost in served + after)

            # Kill a gateway: HAProxy sends its requests to the other two at once.
            gateways = cluster.gateway_replicas
            [ask(client, f"One more, step {i}?") for i in range(3)]  # each gateway holds a lease
            nodes = cluster.nats_urls
            held = asyncio.run(lease_of(nodes, key_id, "2"))
            assert held is not None and held.granted > held.keep  # it held unused budget
            gateway = cluster.service(gateways[1])
            gateway.kill()
            gateway.wait(10)  # gone: a request racing the kill itself would get a 502
            rest = [ask(client, f"Last step {i}?") for i in range(4)]
            assert {replica for replica, _ in rest} == {"gateway-1", "gateway-3"}

            # Its lease expires; the others take back all it could not have used, at their
            # next write of the key's table (each reports every second while it serves it).
            def returned() -> bool:
                time.sleep(0.9)  # a request a second: well within the key's rate limit
                ask(client, "Still there?")
                lease = asyncio.run(lease_of(nodes, key_id, "2"))
                return lease is not None and lease.granted == held.keep

            returned_in_time = poll(returned, timeout=30)
            assert returned_in_time, "the killed gateway's lease never came back to the pool"

        # Every live gateway, one that lost its NATS node too, refuses a revoked key at once.
        assert admin.post(f"/keys/{key_id}/revoke", json={"reason": "lost"}).status_code == 200
        for replica in (gateways[0], gateways[2]):
            refused = poll(lambda r=replica: refuses(r, key), timeout=1.0)
            assert refused, f"{replica} still accepted a revoked key after one second"

    cluster.process.send_signal(signal.SIGINT)
    output, _ = cluster.process.communicate(timeout=60)
    assert "gateway-2 exited" in output and "stopped" in output
    psutil.wait_procs(cluster.children, timeout=0.5)  # over once every child exited
    left = [c for c in cluster.children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert left == [], f"still running after Ctrl-C: {[c.cmdline() for c in left]}"
