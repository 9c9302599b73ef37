"""The ledger killed (SIGKILL) in the middle of ingest and restarted loses and doubles nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import psycopg
from nats.js import JetStreamContext

from contracts.events import RequestMetered
from infra.embedded import free_port
from tests.ledger.conftest import KEYS, SECRET, directory_events, publish
from tests.positions import ledger_caught_up

TOTAL = 4_000
CHUNK = 500


def _env(database_url: str, nats_url: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "AISCHOOL_NATS_URL": nats_url,
        "AISCHOOL_DATABASE_URL": database_url,
        "AISCHOOL_HASH_SECRET": SECRET,
        "AISCHOOL_PORT": str(port),
        "AISCHOOL_INGEST_BATCH_SIZE": "100",
        # Fetched-but-unacked messages of the killed process come back after this long.
        "AISCHOOL_INGEST_ACK_WAIT_SECONDS": "2",
    }


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "infra.cli", "ledger", "serve"], env=env, stdout=out, stderr=out
        )


async def _ready(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    async with asyncio.timeout(timeout), httpx.AsyncClient() as client:
        while True:
            assert process.poll() is None, "the ledger exited"
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


async def _ledger_rows(conn: psycopg.AsyncConnection) -> int:
    cursor = await conn.execute("SELECT count(*) FROM ledger.requests")
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def _totals(database_url: str) -> dict[str, tuple[int, int]]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cursor = await conn.execute(
            "SELECT key_id::text, sum(requests)::bigint, sum(cost_micro_usd)::bigint"
            " FROM ledger.daily_usage GROUP BY key_id"
        )
        return {k: (int(n), int(c)) for k, n, c in await cursor.fetchall()}


async def test_sigkill_during_ingest_then_restart_totals_equal_the_events_published(
    database_url: str, nats_url: str, js: JetStreamContext, tmp_path: Path
) -> None:
    await publish(js, directory_events())
    events = [KEYS[n % len(KEYS)].metered(1 + n % 997) for n in range(TOTAL)]
    expected: Counter[str] = Counter()
    requests: Counter[str] = Counter()
    for e in events:
        expected[str(e.key_id)] += e.cost_micro_usd
        requests[str(e.key_id)] += 1
    port = free_port()
    env = _env(database_url, nats_url, port)
    ledger = _start(env, tmp_path / "ledger.log")
    try:
        await _ready(port, ledger)
        db = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
        publisher = asyncio.create_task(_publish_in_chunks(js, events))
        async with asyncio.timeout(60):  # until it has committed part of what is published
            while await _ledger_rows(db) < TOTAL // 4:
                await asyncio.sleep(0.05)
        ledger.send_signal(signal.SIGKILL)
        ledger.wait()
        assert await _ledger_rows(db) < TOTAL  # it really died mid-ingest

        ledger = _start(env, tmp_path / "ledger.log")
        await publisher
        await _ready(port, ledger)
        async with asyncio.timeout(60):
            while await _ledger_rows(db) < TOTAL:
                await asyncio.sleep(0.1)
        await ledger_caught_up(js)  # acked all of USAGE: a late duplicate would show now
        rows = await _ledger_rows(db)
        reconcile = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "infra.cli", "ledger", "reconcile", "--wait", "30"],
            env=env,
            capture_output=True,
            check=False,
        )
        await db.close()
    finally:
        ledger.kill()
        ledger.wait()

    assert await _totals(database_url) == {k: (requests[k], expected[k]) for k in expected}
    assert rows == TOTAL
    assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr
    report = json.loads(reconcile.stdout)
    assert (report["matches"], report["keys_compared"]) == (True, len(KEYS))


async def _publish_in_chunks(js: JetStreamContext, events: list[RequestMetered]) -> None:
    for start in range(0, len(events), CHUNK):
        await publish(js, events[start : start + CHUNK])
        await asyncio.sleep(0.05)  # a steady flow, so the kill lands in the middle of it
