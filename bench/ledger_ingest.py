"""Ledger benchmark: ingest throughput (events/s) and report latency over many requests.

    .venv/bin/python -m bench.ledger_ingest --ingest 200000 --ledger-cpu 0 \
        --report-requests 10000000 --data /tmp/ledger-10m

Starts its own nats-server and PostgreSQL in a temporary folder (or keeps PostgreSQL's data
in ``--data``, so the generated requests are made once). Ingest: publish metered events to
USAGE, then time the ledger's consumer writing them all, with its CPU and the servers'.
Reports: raw requests generated in SQL (``bench.ledger_reports``), then every reporting
endpoint timed through the API (``bench.ledger_endpoints``). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

from bench.ledger_endpoints import bench_endpoints
from bench.ledger_reports import generate, seal
from bench.process_cpu import cpu_seconds
from contracts.codec import encode, headers, subject
from contracts.events import RequestMetered
from contracts.streams import USAGE
from infra.database import Pool, migrate, open_pool
from infra.embedded import EmbeddedNats, EmbeddedPostgres
from infra.messaging import connect, ensure_streams
from services.ledger.app import SQL_DIR
from services.ledger.settings import LedgerSettings
from services.ledger.usecases.ingest import UsageConsumer
from services.ledger.usecases.maintenance import maintain
from tests.fakes.events import request_metered

SCHEMA = "ledger"


def metered(n: int, at: datetime, active_keys: int = 5000) -> RequestMetered:
    k = n % active_keys
    school, group, student = k % 10, k // 10 % 20, k // 200 % 25
    return request_metered(
        key_id=uuid.UUID(int=school * 1000 + group * 25 + student + 1),
        user_id=f"u-{school}-{group}-{student}",
        school_id=f"school-{school}",
        group_id=f"group-{school}-{group}",
        model=("small", "medium", "large")[n % 3],
        prompt_tokens=900,
        completion_tokens=150,
        cost_micro_usd=1234,
        stream=True,
        latency_ms=800,
        gateway_id="bench",
        at=at,
    )


async def bench_ingest(
    servers: dict[str, int], nats_url: str, pool: Pool, count: int, batch: int, active: int
) -> None:
    nc = await connect(nats_url, "bench")
    js = nc.jetstream()
    await ensure_streams(js)
    now = datetime.now(UTC)
    started = time.perf_counter()
    for n in range(count):
        event = metered(n, now - timedelta(seconds=n / 10), active)
        # Core publish (no per-message ack) to fill the stream fast; JetStream stores it.
        await nc.publish(subject(event), encode(event), headers=headers(event))
        if n % 10_000 == 0:
            await nc.flush()
    await nc.flush()
    while True:  # core publishes are stored asynchronously: wait for the last one
        if (await js.stream_info(USAGE.name)).state.messages >= count:
            break
        await asyncio.sleep(0.1)
    print(f"published {count} events in {time.perf_counter() - started:.1f} s")

    # Every school in Amsterdam: ingest pays for finding each request's local day.
    amsterdam = ZoneInfo("Europe/Amsterdam")
    consumer = UsageConsumer(
        nc, pool, today=now.date, batch_size=batch, zone_of=lambda _school: amsterdam
    )
    load = os.getloadavg()[0]
    cpu_before = {name: cpu_seconds(pid) for name, pid in servers.items()}
    started, own_cpu = time.perf_counter(), time.process_time()
    task = asyncio.create_task(consumer.run())
    while True:
        if consumer.last_sequence >= count:
            break
        await asyncio.sleep(0.05)
    elapsed, own_cpu = time.perf_counter() - started, time.process_time() - own_cpu
    cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in servers.items()}
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await nc.close()
    print(
        f"ingest: {count} events, {active} active keys, batch {batch}: {elapsed:.1f} s"
        f" = {count / elapsed:,.0f} events/s (load average {load:.1f} at the start)"
    )
    # CPU per event is the steadier figure on a shared machine; a ledger that spends c µs
    # of CPU per event can ingest 1e6 / c events/s on its one core.
    per_event = {"ledger": own_cpu, **cpu}
    print(
        "  CPU per event: "
        + ", ".join(f"{name} {seconds / count * 1e6:.1f} µs" for name, seconds in per_event.items())
        + f" -> the ledger's core alone allows {count / own_cpu:,.0f} events/s"
    )


def _pid(process: subprocess.Popen[bytes] | None) -> int:
    assert process is not None, "started above"
    return process.pid


def _pin_servers(ledger_cpu: int | None) -> set[int] | None:
    """Pin this process to every core but the ledger's, so the servers it starts inherit that."""
    if ledger_cpu is None:
        return None
    others = os.sched_getaffinity(0) - {ledger_cpu}
    os.sched_setaffinity(0, others)
    return others


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as folder:
        nats = EmbeddedNats(Path(folder) / "nats")
        # --data keeps PostgreSQL (and the generated requests) for the next run.
        postgres = EmbeddedPostgres((args.data or Path(folder)) / "pg" / "data")
        others = _pin_servers(args.ledger_cpu)
        nats.start()
        postgres.start()
        if others is not None:
            # NATS and PostgreSQL (started above) keep the other cores; the ledger gets one.
            os.sched_setaffinity(0, {args.ledger_cpu})
            print(f"ledger pinned to CPU {args.ledger_cpu}, NATS and PostgreSQL to {others}")
        try:
            if args.ingest:
                pool = await _fresh_ledger(postgres, "bench_ingest")
                servers = {"PostgreSQL": _pid(postgres.process), "NATS": _pid(nats.process)}
                await bench_ingest(
                    servers, nats.url, pool, args.ingest, args.batch, args.active_keys
                )
                await pool.close()
            for count in args.report_requests:
                url = postgres.create_database("bench")
                await migrate(url, SCHEMA, SQL_DIR)
                pool = await open_pool(url, SCHEMA)
                await generate(pool, count)
                await seal(pool)
                print(f"reports over {count:,} requests (load average {os.getloadavg()[0]:.1f}):")
                nc = await connect(nats.url, "bench-reports")
                await bench_endpoints(
                    pool,
                    url,
                    nc.jetstream(),
                    nats.url,
                    args.repeat,
                    args.only,
                    _pid(postgres.process),
                )
                await nc.close()
                await pool.close()
        finally:
            nats.stop()
            postgres.stop()


async def _fresh_ledger(postgres: EmbeddedPostgres, name: str) -> Pool:
    """An empty ledger database (dropped first if a kept data folder has one)."""
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    url = postgres.create_database(name)
    await migrate(url, SCHEMA, SQL_DIR)
    pool = await open_pool(url, SCHEMA)
    await maintain(pool, datetime.now(UTC).date(), 3, 0)
    return pool


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ingest", type=int, default=200_000, help="events to ingest (0: skip)")
    parser.add_argument("--active-keys", type=int, default=5000, help="keys in use at once")
    parser.add_argument(
        "--ledger-cpu", type=int, default=None, help="pin the consumer to this core alone"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="keep PostgreSQL's data (and generated requests) here",
    )
    parser.add_argument("--only", default="", help="time only the questions containing this")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per report")
    parser.add_argument(
        "--batch",
        type=int,
        default=LedgerSettings.model_fields["ingest_batch_size"].default,
        help="consumer batch size (default: the ledger's)",
    )
    parser.add_argument(
        "--report-requests", type=int, nargs="*", default=[1_000_000], help="request counts"
    )
    asyncio.run(main(parser.parse_args()))
