"""A three-node NATS JetStream cluster on loopback, for ``aischool cluster up`` and its test.

Each node is an ``EmbeddedNats`` with a server name, a monitoring port and a cluster block
whose routes name all three nodes. The cluster is usable once every node's ``/healthz`` is
green (JetStream has a meta leader) and the streams exist with three replicas: we create
them here (and the gateways' budget lease bucket), before any service starts, so no service
races an election.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from nats.errors import Error as NatsError

from contracts.streams import BUDGET_LEASES, BUDGET_LEASES_MAX_AGE_SECONDS
from infra.embedded import EmbeddedNats, free_port
from infra.kv import ensure_bucket
from infra.messaging import connect, ensure_streams

CLUSTER_NAME = "aischool"


def _node_config(name: str, cluster_port: int, monitor_port: int, routes: list[int]) -> str:
    listed = ", ".join(f'"nats-route://127.0.0.1:{port}"' for port in routes)
    return (
        f'server_name: "{name}"\n'
        f'http: "127.0.0.1:{monitor_port}"\n'
        f'cluster {{ name: "{CLUSTER_NAME}", listen: "127.0.0.1:{cluster_port}", '
        f"routes: [{listed}] }}\n"
    )


@dataclass
class NatsCluster:
    """Three ``nats-server`` processes forming one JetStream cluster, stores under data_dir."""

    data_dir: Path
    size: int = 3
    nodes: list[EmbeddedNats] = field(default_factory=list)
    monitor_ports: list[int] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        """One client URL per node; clients learn the others from the server they reach."""
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """All client URLs, comma-separated (as the ``nats`` command line takes them)."""
        return ",".join(self.urls)

    def start(self, timeout: float = 60) -> None:
        """Start every node, wait until JetStream is healthy on all and the streams exist."""
        cluster_ports = [free_port() for _ in range(self.size)]
        self.monitor_ports = [free_port() for _ in range(self.size)]
        for i in range(self.size):
            name = f"nats-{i + 1}"
            extra = _node_config(name, cluster_ports[i], self.monitor_ports[i], cluster_ports)
            self.nodes.append(EmbeddedNats(self.data_dir / name, extra_config=extra))
        for node in self.nodes:
            node.start(timeout)
        self.wait_healthy(timeout)
        asyncio.run(self._create_streams(time.monotonic() + timeout))

    def wait_healthy(self, timeout: float) -> None:
        """Wait until every running node reports JetStream healthy on ``/healthz``."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1) as client:
            for node, port in zip(self.nodes, self.monitor_ports, strict=True):
                while node.process is not None:
                    try:
                        if client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"NATS node {node.url} not healthy after {timeout}s")
                    time.sleep(0.2)

    async def _create_streams(self, deadline: float) -> None:
        # Right after an election JetStream may still answer "temporarily unavailable":
        # retry until the streams exist with all their replicas.
        nc = await connect(self.urls[0], "cluster-supervisor")
        try:
            while True:
                try:
                    js = nc.jetstream(timeout=5)
                    await ensure_streams(js, replicas=self.size)
                    await ensure_bucket(js, BUDGET_LEASES, self.size, BUDGET_LEASES_MAX_AGE_SECONDS)
                    return
                except (NatsError, TimeoutError):
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.5)
        finally:
            await nc.close()

    def stop_node(self, index: int) -> None:
        """Stop one node gracefully; the other two keep the cluster's quorum."""
        self.nodes[index].stop()

    def restart_node(self, index: int, timeout: float = 30) -> None:
        """Start a stopped node again on its ports, with its store."""
        self.nodes[index].start(timeout)

    @property
    def running(self) -> list[bool]:
        """Which nodes are running now."""
        return [node.process is not None and node.process.poll() is None for node in self.nodes]

    def stop(self) -> None:
        """Stop every node (SIGTERM, so each flushes its store)."""
        for node in reversed(self.nodes):
            node.stop()
