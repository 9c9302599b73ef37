"""A gateway killed with SIGKILL loses no metered request: the journal brings them back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext

from contracts.codec import encode
from infra.embedded import EmbeddedNats, free_port
from infra.messaging import connect
from services.gateway.adapters.journal import Journal
from tests.gateway.conftest import SECRET, Gateway, issue_key, metered, start_gateway

REQUESTS = 12


class Gate:
    """A TCP relay to NATS whose gateway-to-NATS bytes can be held back (never delivered)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.open = asyncio.Event()
        self.open.set()
        self.port = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._server.close()
        for writer in self._writers:
            writer.close()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, up_writer]
        self._tasks += [
            asyncio.create_task(self._pump(reader, up_writer, gated=True)),
            asyncio.create_task(self._pump(up_reader, writer, gated=False)),
        ]

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, gated: bool
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65536):
                if gated:
                    await self.open.wait()
                sink.write(data)
                await sink.drain()
        sink.close()


@pytest.fixture
async def gate(nats_server: EmbeddedNats) -> AsyncIterator[Gate]:
    relay = Gate(nats_server.port)
    await relay.start()
    yield relay
    await relay.stop()


@contextlib.contextmanager
def gateway_process(
    nats_url: str, spool: Path, log: Path, **extra_env: str
) -> Iterator[tuple[str, Any]]:
    """``aischool gateway serve`` (the demo model unless ``extra_env`` names a models file);
    killed at the end if still running."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AISCHOOL_")}
    env |= {
        "AISCHOOL_NATS_URL": nats_url,
        "AISCHOOL_HASH_SECRET": SECRET,
        "AISCHOOL_SPOOL_DIR": str(spool),
        # A publish to the held-back NATS must wait for its ack, not time out into the spool.
        "AISCHOOL_METERING_PUBLISH_TIMEOUT_SECONDS": "60",
        **extra_env,
    }
    command = [sys.executable, "-m", "infra.cli", "gateway", "serve", "--port", str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.kill()
        process.wait()


async def wait_ready(url: str, process: Any) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(400):
            assert process.poll() is None, "gateway exited"
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    raise AssertionError("gateway never became ready")


async def chat(
    client: httpx.AsyncClient, url: str, key: str, model: str = "demo"
) -> httpx.Response:
    return await client.post(
        f"{url}/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
    )


async def served_ids(url: str, key: str, count: int, model: str = "demo") -> list[str]:
    """Send ``count`` requests (retrying until the key is known); their x-request-ids."""
    ids: list[str] = []
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            response = await chat(client, url, key, model)
            if response.status_code == 200:
                ids.append(response.headers["x-request-id"])
                if len(ids) == count:
                    return ids
            else:
                assert response.status_code == 401 and not ids, response.text
                await asyncio.sleep(0.05)
    raise AssertionError("the key never became known")


async def usage_ids(nats_url: str, expected: set[str]) -> Counter[str]:
    """Request ids in USAGE with their counts, once ``expected`` are all there (or 20 s)."""
    nc = await connect(nats_url, "crash-test")
    try:
        for _ in range(200):
            counts = Counter(str(e.request_id) for e in await metered(nc.jetstream()))
            if expected <= set(counts):
                return counts
            await asyncio.sleep(0.1)
        return counts
    finally:
        await nc.close()


async def test_requests_of_a_gateway_killed_before_acks_are_in_usage_once_after_restart(
    tmp_path: Path, nats_server: EmbeddedNats, js: JetStreamContext, gate: Gate
) -> None:
    key, _ = await issue_key(js)
    spool, log = tmp_path / "spool", tmp_path / "gateway.log"
    gated_url = f"nats://127.0.0.1:{gate.port}"
    with gateway_process(gated_url, spool, log) as (url, process):
        await wait_ready(url, process)
        ids = await served_ids(url, key, 1)
        assert set(await usage_ids(nats_server.url, set(ids))) >= set(ids)
        # NATS stays up but never sees the publishes: the events are queued or in flight.
        gate.open.clear()
        ids += await served_ids(url, key, REQUESTS)
        process.kill()
        process.wait()
    assert list(spool.glob("journal-*.jsonl")), "the killed gateway left no journal"
    with gateway_process(nats_server.url, spool, log) as (url, process):
        await wait_ready(url, process)
        counts = await usage_ids(nats_server.url, set(ids))
    assert {i: counts[i] for i in ids} == dict.fromkeys(ids, 1)
    assert not list(spool.glob("journal-*.jsonl")) or all(
        p.stat().st_size == 0 for p in spool.glob("journal-*.jsonl")
    )


async def test_a_journaled_event_already_in_usage_is_counted_once_after_restart(
    make_settings: Any, js: JetStreamContext, gateways: list[Gateway]
) -> None:
    settings = make_settings()
    first = start_gateway(settings)
    gateways.append(first)
    key, issued = await issue_key(js)
    ids = await served_ids_sdk(first, key, 3)
    events = [e for e in await wait_all(js, ids) if str(e.request_id) in ids]
    spent = first.proxy.state.budgets.account(issued.key_id).spent_micro
    await first.stop()
    # As if killed after JetStream acked the events but before the journal was truncated.
    (settings.spool_dir / "journal-7.jsonl").write_bytes(
        b"".join(encode(e) + b"\n" for e in events)
    )
    second = start_gateway(settings)
    gateways.append(second)
    assert second.proxy.state.budgets.account(issued.key_id).spent_micro == spent > 0
    counts = Counter(str(e.request_id) for e in await wait_all(js, ids))
    assert {i: counts[i] for i in ids} == dict.fromkeys(ids, 1)


async def served_ids_sdk(gateway: Gateway, key: str, count: int) -> list[str]:
    ids = []
    client = gateway.client(key)
    for _ in range(count):
        response = await client.chat.completions.with_raw_response.create(
            model="fake", messages=[{"role": "user", "content": "hi"}], max_tokens=1
        )
        ids.append(response.headers["x-request-id"])
    return ids


async def wait_all(js: JetStreamContext, ids: list[str]) -> list[Any]:
    for _ in range(200):
        events = await metered(js)
        if set(ids) <= {str(e.request_id) for e in events}:
            return events
        await asyncio.sleep(0.1)
    raise AssertionError("events never reached USAGE")


def test_journal_forgets_resolved_segments_and_rotates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("services.gateway.adapters.journal.ROTATE_LINES", 2)
    journal = Journal(tmp_path)
    segments = [journal.write(f'{{"n":{n}}}'.encode()) for n in range(3)]
    assert segments == [0, 0, 1]
    journal.resolve(0)
    assert (tmp_path / "journal-0.jsonl").exists()
    journal.resolve(0)
    assert not (tmp_path / "journal-0.jsonl").exists()
    assert journal.unresolved == 1
    journal.resolve(1)
    assert (tmp_path / "journal-1.jsonl").stat().st_size == 0
    journal.close()
    assert not list(tmp_path.glob("journal-*"))
