"""Benchmark: a bare pass-through proxy on plain httpx against httpx on aiohttp's engine.

Three processes: a fixed-JSON upstream (uvicorn), the proxy (uvicorn + Starlette, one worker)
forwarding ``POST /v1/chat/completions`` with the transport under test, and this process as the
load generator (aiohttp). On Linux the proxy is pinned to CPU 0, the upstream and the load
generator to the last CPU, so the proxy has one core to itself. Not a test: prints figures.

    .venv/bin/python -m bench.gateway_transport [--requests 4000] [--concurrency 1 16 64]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

PATH = "/v1/chat/completions"
HEADER = "clients   req/s  p50 ms  p99 ms  proxy CPU µs/req  failures"
VARIANTS = ("httpx", "httpx-no-sniffio", "httpx-aiohttp")
REQUEST = {"model": "m", "messages": [{"role": "user", "content": "Say hello in five words."}]}
ANSWER = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
    }
).encode()


async def upstream_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers every HTTP request with the same completion, as fast as uvicorn allows."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": ANSWER})


def proxy_app(upstream: str, variant: str) -> Any:
    """A Starlette app forwarding the chat endpoint to ``upstream`` with one shared client."""
    if variant == "httpx-no-sniffio":
        sys.modules["sniffio"] = None  # type: ignore[assignment]  # httpcore then assumes asyncio
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        transport: httpx.AsyncBaseTransport | None = None
        if variant == "httpx-aiohttp":
            import httpx_aiohttp

            transport = httpx_aiohttp.AiohttpTransport(limits=limits)
        async with httpx.AsyncClient(transport=transport, limits=limits) as client:
            app.state.client = client
            yield

    async def forward(request: Request) -> Response:
        client: httpx.AsyncClient = request.app.state.client
        body = await request.body()
        headers = {"content-type": "application/json", "authorization": "Bearer upstream"}
        answer = await client.post(upstream + PATH, content=body, headers=headers)
        return Response(answer.content, answer.status_code, media_type="application/json")

    return Starlette(routes=[Route(PATH, forward, methods=["POST"])], lifespan=lifespan)


def pin(cpu: int) -> None:
    """Keeps this process on one CPU where the OS allows it."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu % (os.cpu_count() or 1)})


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    pin(0 if args.role == "proxy" else -1)
    app = upstream_app if args.role == "upstream" else proxy_app(args.upstream, args.variant)
    # A long keep-alive upstream: at 5 s (uvicorn's default, also httpx's keep-alive expiry) the
    # upstream closes idle connections just as the proxy reuses them, and httpx does not retry.
    keep_alive = 75 if args.role == "upstream" else 5
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=keep_alive,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(*argv: str) -> tuple[subprocess.Popen[bytes], str]:
    """Starts a server role in a child process and waits until it accepts connections."""
    port = free_port()
    command = [sys.executable, "-m", "bench.gateway_transport", *argv, "--port", str(port)]
    child = subprocess.Popen(command)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return child, f"http://127.0.0.1:{port}"
        time.sleep(0.05)
    child.kill()
    raise TimeoutError(f"{argv[0]} did not start")


async def load(url: str, concurrency: int, total: int) -> tuple[float, list[float], int]:
    """Sends ``total`` requests from ``concurrency`` clients: seconds, latencies, failures."""
    import aiohttp

    latencies: list[float] = []
    failures = 0
    remaining = iter(range(total))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            nonlocal failures
            for _ in remaining:
                began = time.perf_counter()
                async with session.post(url + PATH, json=REQUEST) as response:
                    await response.read()
                    failures += response.status != 200
                latencies.append(time.perf_counter() - began)

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return time.perf_counter() - began, latencies, failures


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(url: str, concurrency: int, total: int, proxy_pid: int) -> str:
    """One row: throughput, latency percentiles and the proxy's CPU time per request."""
    asyncio.run(load(url, concurrency, min(total, 500)))  # warm-up: connections, caches
    cpu = cpu_seconds(proxy_pid)
    seconds, latencies, failures = asyncio.run(load(url, concurrency, total))
    cpu_us = (cpu_seconds(proxy_pid) - cpu) / total * 1e6
    cuts = statistics.quantiles(latencies, n=100)
    p50, p99 = cuts[49] * 1000, cuts[98] * 1000
    figures = f"{total / seconds:>7.0f} {p50:>7.1f} {p99:>7.1f} {cpu_us:>17.0f}"
    return f"{concurrency:>7} {figures} {failures:>9}"


def run(args: argparse.Namespace) -> None:
    pin(-1)
    print(f"cpus={os.cpu_count()} requests={args.requests} python={sys.version.split()[0]}")
    upstream, upstream_url = start("upstream")
    try:
        for round_ in range(1, args.rounds + 1):
            for variant in args.variants:
                proxy, url = start("proxy", "--variant", variant, "--upstream", upstream_url)
                try:
                    print(f"\nround {round_}, {variant}\n{HEADER}")
                    for concurrency in args.concurrency:
                        print(measure(url, concurrency, args.requests, proxy.pid), flush=True)
                finally:
                    proxy.terminate()
                    proxy.wait(10)
    finally:
        upstream.terminate()
        upstream.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", nargs="?", default="run", choices=["run", "upstream", "proxy"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--upstream", default="")
    parser.add_argument("--variant", choices=VARIANTS, default="httpx")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    (run if args.role == "run" else serve)(args)


if __name__ == "__main__":
    main()
