"""Shared set-up for the gateway benchmarks: NATS, a fast upstream and the gateway, as processes.

The gateway runs as in production (``aischool gateway serve``, one process, logs at WARNING),
the upstream is the transport benchmark's bare ASGI app under uvicorn, answering at once
(``bench.gateway_transport.upstream_app``), NATS is the embedded ``nats-server``. The
benchmark process publishes keys to KEYS itself and generates load.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from contracts.apikeys import generate_key, hash_secret, key_hint
from contracts.codec import encode, headers, subject
from contracts.events import EventBase, KeyIssued, Renewal, Role
from infra.embedded import EmbeddedNats, free_port, wait_for_port

SECRET = "bench-secret"
MODELS = """[models.bench]
base_url = "http://127.0.0.1:{port}/v1"
input_usd_per_million = 1
output_usd_per_million = 2
max_output_tokens = 100
"""


@dataclass
class Stack:
    """Where the running pieces listen."""

    nats: EmbeddedNats
    gateway_url: str


def _spawn(args: list[str], port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, 30, process)
    return process


def _ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz").status_code == 200:
                return
        time.sleep(0.05)
    raise TimeoutError("gateway not ready")


@contextlib.contextmanager
def running_stack() -> Iterator[Stack]:
    """NATS, the upstream and one gateway process; everything stops on exit."""
    with tempfile.TemporaryDirectory() as tmp:
        nats = EmbeddedNats(Path(tmp) / "nats")
        nats.start()
        up_port, gw_port = free_port(), free_port()
        models = Path(tmp) / "models.toml"
        models.write_text(MODELS.format(port=up_port))
        bin_dir = Path(sys.executable).parent
        env = {
            **os.environ,
            "AISCHOOL_NATS_URL": nats.url,
            "AISCHOOL_HASH_SECRET": SECRET,
            "AISCHOOL_PORT": str(gw_port),
            "AISCHOOL_MODELS_FILE": str(models),
            "AISCHOOL_SPOOL_DIR": str(Path(tmp) / "spool"),
            "AISCHOOL_LOG_LEVEL": "WARNING",
            "AISCHOOL_STAFF_CONCURRENT_REQUESTS": "100000",
            "AISCHOOL_STAFF_REQUESTS_PER_MINUTE": "100000000",
        }
        uvicorn = [
            str(bin_dir / "uvicorn"),
            "bench.gateway_transport:upstream_app",
            "--no-access-log",
        ]
        processes = [
            _spawn([*uvicorn, "--port", str(up_port), "--log-level", "warning"], up_port, env),
            _spawn([str(bin_dir / "aischool"), "gateway", "serve"], gw_port, env),
        ]
        try:
            url = f"http://127.0.0.1:{gw_port}"
            _ready(url)
            yield Stack(nats, url)
        finally:
            for process in processes:
                process.terminate()
                process.wait(15)
            nats.stop()


def key_issued(budget_micro_usd: int = 10**12) -> tuple[str, KeyIssued]:
    """A new staff key (plaintext and event) with a budget that will not run out."""
    plaintext = generate_key()
    now = datetime.now(UTC)
    return plaintext, KeyIssued(
        event_id=uuid.uuid4(),
        occurred_at=now,
        key_id=uuid.uuid4(),
        key_hash=hash_secret(plaintext, SECRET.encode()),
        key_hint=key_hint(plaintext),
        user_id="bench",
        role=Role.STAFF,
        school_id="bench",
        group_id=None,
        budget_micro_usd=budget_micro_usd,
        renewal=Renewal.NONE,
        period_start=now,
        valid_from=None,
        valid_until=None,
        batch_id=None,
        issued_by="bench",
    )


async def publish(js: Any, event: EventBase) -> None:
    """Publish an event to its stream as the keys relay would."""
    await js.publish(subject(event), encode(event), headers=headers(event))


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of the sorted values lie."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
