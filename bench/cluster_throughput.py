"""Gateway throughput with one, two and three replicas behind HAProxy (round-robin).

Starts the cluster as ``aischool cluster up`` does (``bench/cluster_common.py``); for each
replica count an HAProxy of its own sends to the first N gateways. ``--clients`` concurrent
clients (each with its own key, budget leases taken during a warm-up) send non-streamed chat
completions to the ``fast`` upstream for ``--seconds``. Prints requests per second, median and
p95 latency, and the gateways' CPU time per request (psutil, all replicas together).

    .venv/bin/python -m bench.cluster_throughput --clients 32 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from bench.cluster_common import Cluster, load_average, running_cluster
from bench.gateway_common import percentile
from infra.cluster import replica_names
from infra.embedded import free_port
from infra.haproxy import Balance, HAProxy, haproxy_config

CHAT = {"model": "fast", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


async def closed_loop(url: str, keys: list[str], seconds: float) -> tuple[int, list[float], int]:
    """Requests answered, their latencies (ms), and failures, over ``seconds``."""
    latencies: list[float] = []
    failures = 0
    end = time.perf_counter() + seconds

    async def client(key: str) -> None:
        nonlocal failures
        auth = {"authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=url, headers=auth, timeout=30) as http:
            while time.perf_counter() < end:
                started = time.perf_counter()
                reply = await http.post("/v1/chat/completions", json=CHAT)
                if reply.status_code == 200:
                    latencies.append((time.perf_counter() - started) * 1000)
                else:
                    failures += 1

    await asyncio.gather(*(client(key) for key in keys))
    return len(latencies), latencies, failures


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


async def measure(cluster: Cluster, replicas: int, keys: list[str], seconds: float) -> str:
    stack = cluster.stack
    names = replica_names("gateway")[:replicas]
    port = free_port()
    config = haproxy_config(
        port,
        [stack.ports[n] for n in names],
        free_port(),
        [stack.ports[n] for n in replica_names("keys")],
        Balance.ROUND_ROBIN,
    )
    proxy = HAProxy(stack.data_dir / f"haproxy-{replicas}", config, port)
    await asyncio.to_thread(proxy.start, 30)
    try:
        url = f"http://127.0.0.1:{port}"
        await closed_loop(url, keys, 3)  # warm-up: every replica takes its leases
        pids = [stack.processes[n].pid for n in names]
        cpu, started = cpu_seconds(pids), time.perf_counter()
        done, latencies, failures = await closed_loop(url, keys, seconds)
        wall, used = time.perf_counter() - started, cpu_seconds(pids) - cpu
    finally:
        await asyncio.to_thread(proxy.stop)
    return (
        f"| {replicas} | {done / wall:.0f} | {percentile(latencies, 0.5):.1f} |"
        f" {percentile(latencies, 0.95):.1f} | {used / done * 1000:.2f} | {failures} |"
        f" {load_average()} |"
    )


async def run(cluster: Cluster, clients: int, seconds: float) -> None:
    issued = await asyncio.to_thread(cluster.issue, "tp-", ["1000.00"] * clients)
    keys = [key for _, key in issued]
    print(f"\n{clients} clients, {seconds:.0f} s per replica count, fast upstream, no streaming")
    print("| gateways | requests/s | p50 ms | p95 ms | gateway CPU ms/request | failed | load |")
    print("|---|---|---|---|---|---|---|")
    for replicas in (1, 2, 3):
        print(await measure(cluster, replicas, keys, seconds), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp,
        running_cluster(Path(tmp), 30.0) as cluster,
    ):
        asyncio.run(run(cluster, args.clients, args.seconds))


if __name__ == "__main__":
    main()
