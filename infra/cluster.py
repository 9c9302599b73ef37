"""``aischool cluster up``: several replicas on one machine, as production runs them.

Three ``nats-server`` nodes in one JetStream cluster (streams with three replicas), three
gateways behind HAProxy, two keys replicas (one serves, one stands by; one relay publishes, as
README "How events flow" says), one ledger, one documents service and one PostgreSQL, all on
loopback. A replica that dies is reported and the rest keep serving (that is what replicas are
for); the whole cluster stops when the last replica of a role is gone, or on Ctrl-C/SIGTERM.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx

from infra.embedded import EmbeddedPostgres, free_port
from infra.haproxy import Balance, HAProxy, haproxy_config
from infra.nats_cluster import NatsCluster
from infra.supervisor import DATABASE, Stack, listen

REPLICAS = {"gateway": 3, "keys": 2, "ledger": 1, "documents": 1}


def replica_names(role: str) -> list[str]:
    """``gateway-1`` ... for a replicated role, the role's own name for a single one."""
    count = REPLICAS[role]
    return [role] if count == 1 else [f"{role}-{i}" for i in range(1, count + 1)]


@dataclass
class ClusterStack(Stack):
    """Everything ``cluster up`` started; ``ports`` and ``processes`` are per replica."""

    balance: Balance = Balance.ROUND_ROBIN
    cluster: NatsCluster | None = None
    proxy: HAProxy | None = None
    # What users call: HAProxy for gateways and keys, the single ledger and documents.
    frontends: dict[str, int] = field(default_factory=dict)

    def start_servers(self) -> None:
        self.cluster = NatsCluster(self.data_dir / "nats")
        self.cluster.start()
        self.nats_url = self.cluster.url
        self.postgres = EmbeddedPostgres(self.data_dir / "postgres", port=free_port())
        self.postgres.start()
        self.database_url = self.postgres.create_database(DATABASE)

    @property
    def printed_url(self) -> str:
        return self.public_url or f"http://127.0.0.1:{self.frontends['gateway']}/v1"

    @property
    def ledger_url(self) -> str:
        return f"http://127.0.0.1:{self.frontends['ledger']}"

    def environment(self) -> dict[str, str]:
        assert self.cluster is not None
        env = super().environment()
        # Clients take one URL (nats-py does not split a comma list) and learn the other
        # nodes from the server they reach; nats_url lists all three for people and tools.
        env["AISCHOOL_NATS_URL"] = self.cluster.urls[0]
        env["AISCHOOL_STREAM_REPLICAS"] = str(self.cluster.size)
        return env

    def _replica_environment(self, name: str, index: int, serial: int) -> dict[str, str]:
        assert self.cluster is not None
        env = self.environment()
        # Spread the replicas over the nodes; each learns the others from the node it reaches.
        env["AISCHOOL_NATS_URL"] = self.cluster.urls[serial % self.cluster.size]
        env["AISCHOOL_INSTANCE_ID"] = str(index)
        env["AISCHOOL_SPOOL_DIR"] = str(self.data_dir / f"{name}-spool")
        return env

    def start_services(self) -> None:
        # Free ports only: `up` (and its tests) may take 8100-8103 at any moment.
        # HAProxy's frontends are free ports it binds itself; every replica listens on a
        # socket bound here and kept, so no other process can take its port meanwhile.
        self.frontends = {role: free_port() for role, count in REPLICAS.items() if count > 1}
        logs = self.data_dir / "logs"
        logs.mkdir(exist_ok=True)
        for role, count in REPLICAS.items():
            for name in replica_names(role):
                self.sockets[name] = listen(0)
                self.ports[name] = self.sockets[name].getsockname()[1]
                if count == 1:
                    self.frontends[role] = self.ports[name]
        # Every address is known before the first replica is told where the others are.
        serial = 0
        for role in REPLICAS:
            for index, name in enumerate(replica_names(role), start=1):
                self.spawn(name, role, self._replica_environment(name, index, serial))
                serial += 1

    def restart_replica(self, name: str) -> None:
        """Start a replica that exited (``gateway-2``) again, on its port, with its spool."""
        role = name if name in REPLICAS else name.rsplit("-", 1)[0]
        serial = [n for r in REPLICAS for n in replica_names(r)].index(name)
        index = replica_names(role).index(name) + 1
        self.spawn(name, role, self._replica_environment(name, index, serial))

    def start_proxy(self, timeout: float = 30) -> None:
        """Start HAProxy and wait until it sends requests to a ready gateway and keys."""
        config = haproxy_config(
            self.frontends["gateway"],
            [self.ports[name] for name in replica_names("gateway")],
            self.frontends["keys"],
            [self.ports[name] for name in replica_names("keys")],
            self.balance,
        )
        self.proxy = HAProxy(self.data_dir / "haproxy", config, self.frontends["gateway"])
        self.proxy.start(timeout)
        _wait_ok([f"http://127.0.0.1:{self.frontends[r]}/readyz" for r in ("gateway", "keys")])

    def wait_admin_known(self, token: str, timeout: float = 30) -> None:
        """Wait until every keys replica and the ledger accept a new administrator's token.

        They learn administrators from events (the store, then KEYS), a moment after the
        token was made: printed earlier, its first use could be refused.
        """
        urls = [f"http://127.0.0.1:{self.ports[name]}/schools" for name in replica_names("keys")]
        urls.append(f"http://127.0.0.1:{self.frontends['ledger']}/requests")
        _wait_ok(urls, timeout, {"Authorization": f"Bearer {token}"})

    def lost_roles(self) -> list[str]:
        """Roles with no running replica left (HAProxy and NATS count as roles too)."""
        lost = [
            role
            for role in REPLICAS
            if all(self.processes[name].poll() is not None for name in replica_names(role))
        ]
        if (
            self.proxy is None
            or self.proxy.process is None
            or self.proxy.process.poll() is not None
        ):
            lost.append("haproxy")
        if self.cluster is not None and not any(self.cluster.running):
            lost.append("nats")
        return lost

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        super().stop()
        if self.cluster is not None:
            self.cluster.stop()


def _wait_ok(urls: list[str], timeout: float = 30, headers: dict[str, str] | None = None) -> None:
    with httpx.Client(timeout=1, headers=headers) as client:
        for url in urls:
            for _ in range(int(timeout / 0.2)):
                try:
                    if client.get(url).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            else:
                raise TimeoutError(f"{url} not ready after {timeout}s")
