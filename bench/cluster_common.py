"""Shared set-up of the cluster benchmarks: ``ClusterStack`` (as ``aischool cluster up`` runs
it: three NATS nodes, three gateways behind HAProxy, two keys replicas, ledger, documents,
PostgreSQL) with two upstreams: the tests' fake (``fake``: logs every request it served by the
gateway's request id, streams in 20 ms chunks) and the transport benchmark's bare ASGI app
(``fast``: answers at once, in its own uvicorn process)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.faults import SCHOOL
from infra.cluster import ClusterStack, replica_names
from infra.embedded import free_port, wait_for_port
from tests.fakes.upstream import FakeUpstream, ServerThread

MODELS = """[models.fake]
base_url = "{fake}"
upstream_model = "fake-model"
input_usd_per_million = 10
output_usd_per_million = 100
max_output_tokens = 50

[models.fast]
base_url = "http://127.0.0.1:{fast}/v1"
input_usd_per_million = 1
output_usd_per_million = 2
max_output_tokens = 100
"""


@dataclass
class Cluster:
    """The running cluster, its fake upstream and an administrator token."""

    stack: ClusterStack
    fake: FakeUpstream
    token: str

    def url(self, name: str) -> str:
        """A replica (``gateway-2``) or a frontend (``gateway``: HAProxy) by name."""
        port = self.stack.ports.get(name) or self.stack.frontends[name]
        return f"http://127.0.0.1:{port}"

    def admin(self) -> httpx.Client:
        auth = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.url("keys"), headers=auth, timeout=60)

    def issue(self, prefix: str, budgets_usd: list[str]) -> list[tuple[str, str]]:
        """One student per budget, each with a key: (key id, key)."""
        users = [
            {"user_id": f"{prefix}{n}", "role": "student", "given_name": "S", "family_name": str(n)}
            | {"school_ids": ["bench"], "account": f"{prefix}{n}@bench.example"}
            for n in range(len(budgets_usd))
        ]
        with self.admin() as admin:
            reply = admin.post("/directory", json={"schools": [SCHOOL], "users": users})
            assert reply.status_code == 200, reply.text
            issued = []
            for user, budget in zip(users, budgets_usd, strict=True):
                key = admin.post(f"/users/{user['user_id']}/keys", json={"budget_usd": budget})
                assert key.status_code == 201, key.text
                issued.append((key.json()["key_id"], key.json()["key"]))
        return issued

    def gateway_pids(self) -> dict[str, int]:
        return {n: self.stack.processes[n].pid for n in replica_names("gateway")}


@contextlib.contextmanager
def running_cluster(root: Path, lease_seconds: float) -> Iterator[Cluster]:
    """The cluster on loopback; everything stops on exit."""
    fake = FakeUpstream(chunk_delay_seconds=0.02)
    fast_port = free_port()
    fast = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.gateway_transport:upstream_app"]
        + ["--port", str(fast_port), "--log-level", "warning", "--no-access-log"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(fast_port, 30, fast)
    with ServerThread(fake.app()) as upstream:
        models = root / "models.toml"
        models.write_text(MODELS.format(fake=f"{upstream.url}/v1", fast=fast_port))
        os.environ.update(
            AISCHOOL_MODELS_FILE=str(models),
            AISCHOOL_STUDENT_REQUESTS_PER_MINUTE="1000000",
            AISCHOOL_STUDENT_CONCURRENT_REQUESTS="100",
            AISCHOOL_LOG_LEVEL="WARNING",
            AISCHOOL_RENDER_PROCESSES="0",
            AISCHOOL_BUDGET_LEASE_SECONDS=str(lease_seconds),
        )
        stack = ClusterStack(root / "cluster")
        stack.data_dir.mkdir(parents=True)
        try:
            started = time.perf_counter()
            stack.start_servers()
            stack.start_services()
            stack.wait_ready(timeout=300)
            stack.start_proxy(timeout=120)
            token = stack.bootstrap_admin() or ""
            stack.wait_admin_known(token, timeout=120)
            print(f"cluster ready in {time.perf_counter() - started:.0f} s", flush=True)
            yield Cluster(stack, fake, token)
        finally:
            stack.stop()
            fast.terminate()
            fast.wait(15)


def load_average() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())
