"""HAProxy as ``cluster up`` configures it, in front of three small HTTP servers: round-robin
spreads one key's requests over every gateway, key-hash keeps each key on one gateway, and a
gateway that stops answering is taken out while the others serve."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from infra.embedded import free_port
from infra.haproxy import Balance, HAProxy, haproxy_config


class _Named(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def backends() -> Iterator[list[ThreadingHTTPServer]]:
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Named) for _ in range(3)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


def start_proxy(tmp_path: Path, backends: list[ThreadingHTTPServer], balance: Balance) -> HAProxy:
    port = free_port()
    ports = [s.server_address[1] for s in backends]
    config = haproxy_config(port, ports, free_port(), ports[:2], balance)
    proxy = HAProxy(tmp_path / "haproxy", config, port)
    proxy.start()
    return proxy


def replicas_for(proxy: HAProxy, key: str, times: int) -> Counter[str]:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{proxy.port}", headers=headers) as client:
        return Counter(client.get("/v1/models").headers["x-aischool-replica"] for _ in range(times))


def test_round_robin_spreads_one_key_over_every_gateway(tmp_path: Path, backends) -> None:
    proxy = start_proxy(tmp_path, backends, Balance.ROUND_ROBIN)
    try:
        assert replicas_for(proxy, "sk-ais-one", 9) == {f"gateway-{i}": 3 for i in (1, 2, 3)}
    finally:
        proxy.stop()


def test_key_hash_keeps_each_key_on_one_gateway(tmp_path: Path, backends) -> None:
    proxy = start_proxy(tmp_path, backends, Balance.KEY_HASH)
    try:
        seen = [replicas_for(proxy, f"sk-ais-key{i}", 3) for i in range(12)]
        assert all(len(replicas) == 1 for replicas in seen)
        assert len({next(iter(replicas)) for replicas in seen}) == 3  # keys spread
    finally:
        proxy.stop()


def test_a_stopped_gateway_is_taken_out_and_the_others_serve(tmp_path: Path, backends) -> None:
    proxy = start_proxy(tmp_path, backends, Balance.ROUND_ROBIN)
    try:
        backends[1].shutdown()
        backends[1].server_close()
        # Refused connections are redispatched at once; health checks then take it out.
        assert set(replicas_for(proxy, "sk-ais-one", 12)) == {"gateway-1", "gateway-3"}
    finally:
        proxy.stop()
