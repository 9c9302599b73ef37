"""Every reporting endpoint of the ledger, timed through its HTTP API over generated requests.

The ledger app runs in this process (``create_app``, its lifespan, an ASGI client: routing,
scope checks, the queries, shaping and JSON all count) on the requests
``bench.ledger_reports`` generated, with their directory published to ``KEYS`` (10 schools,
even ones in Amsterdam and odd ones in New York, 20 groups of 25 students each, a key each)
and an administrator of all schools. Each question runs once to warm up, then ``repeat``
times; the median, p95 and max are printed, with the CPU this process (the ledger and the
client) spent per answer and PostgreSQL's per answer (with ``server_pid``: on a shared machine
the steadier figures). Asserts nothing.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
from nats.js import JetStreamContext
from pydantic import SecretStr

from bench.ledger_reports import YEAR_END, YEAR_START
from bench.process_cpu import cpu_seconds
from contracts.apikeys import hash_secret
from contracts.codec import encode, headers, subject
from contracts.events import (
    AdminCreated,
    EventBase,
    GroupRecorded,
    KeyIssued,
    Renewal,
    Role,
    SchoolRecorded,
    StudentEnrolled,
    UserRecorded,
)
from contracts.streams import USAGE
from infra.database import Pool
from infra.messaging import ensure_streams
from services.ledger.app import create_app
from services.ledger.settings import LedgerSettings

SECRET = "bench-hash-secret"
TOKEN = "ais-admin-" + "b" * 43
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
YEAR = f"from={YEAR_START}&to={YEAR_END}"
WEEK = f"from={YEAR_END.replace(day=24)}&to={YEAR_END}"
# The bench's class, its school and one of its students' keys (as bench.ledger_reports makes them).
SCHOOL, GROUP, KEY = "school-3", "group-3-7", uuid.UUID(int=3 * 1000 + 7 * 25 + 4 + 1)


def _directory() -> Iterator[EventBase]:
    common = {"occurred_at": NOW}
    yield AdminCreated(
        event_id=uuid.uuid4(),
        admin_id="bench",
        name="Bench",
        token_hash=hash_secret(TOKEN, SECRET.encode()),
        school_ids=None,
        **common,
    )
    for s in range(10):
        zone = "Europe/Amsterdam" if s % 2 == 0 else "America/New_York"
        yield SchoolRecorded(
            event_id=uuid.uuid4(),
            school_id=f"school-{s}",
            name=f"School {s}",
            time_zone=zone,
            **common,
        )
        for g in range(20):
            group_id = f"group-{s}-{g}"
            yield GroupRecorded(
                event_id=uuid.uuid4(),
                group_id=group_id,
                school_id=f"school-{s}",
                name=f"Class {s}-{g}",
                **common,
            )
            for u in range(25):
                yield from _student(s, g, u, group_id)


def _student(s: int, g: int, u: int, group_id: str) -> Iterator[EventBase]:
    user_id, common = f"u-{s}-{g}-{u}", {"occurred_at": NOW, "event_id": uuid.uuid4()}
    yield UserRecorded(
        user_id=user_id,
        role=Role.STUDENT,
        given_name="Student",
        family_name=f"{s}-{g}-{u:02d}",
        school_ids=(f"school-{s}",),
        **common,
    )
    yield StudentEnrolled(
        user_id=user_id, group_id=group_id, occurred_at=NOW, event_id=uuid.uuid4()
    )
    yield KeyIssued(
        event_id=uuid.uuid4(),
        occurred_at=NOW,
        key_id=uuid.UUID(int=s * 1000 + g * 25 + u + 1),
        key_hash="h" * 64,
        key_hint="sk-ais-…bench",
        user_id=user_id,
        role=Role.STUDENT,
        school_id=f"school-{s}",
        group_id=group_id,
        budget_micro_usd=10_000_000,
        renewal=Renewal.WEEKLY,
        period_start=NOW,
        valid_from=None,
        valid_until=None,
        batch_id=None,
        issued_by="bench",
    )


async def _publish(js: JetStreamContext, events: list[EventBase]) -> None:
    for start in range(0, len(events), 500):
        await asyncio.gather(
            *(
                js.publish(subject(e), encode(e), headers=headers(e), timeout=30)
                for e in events[start : start + 500]
            )
        )


def questions(chat_id: uuid.UUID, chat_key: uuid.UUID) -> list[str]:
    """One question per endpoint and typical filter, each over the generated year."""
    reports = [
        f"/reports/users?group_id={GROUP}",
        f"/reports/users?school_id={SCHOOL}",
        f"/reports/keys?group_id={GROUP}",
        f"/reports/groups?school_id={SCHOOL}",
        "/reports/groups",
        "/reports/schools",
        "/reports/models",
        f"/reports/days?school_id={SCHOOL}",
        "/reports/days",
        f"/reports/user-models?group_id={GROUP}",
        f"/reports/group-days?school_id={SCHOOL}",
        f"/requests?limit=100&school_id={SCHOOL}",
        f"/requests?limit=100&group_id={GROUP}",
        f"/requests?limit=100&key_id={KEY}",
        "/requests?limit=100&status=502",
        "/requests?limit=100",
        "/series",
        f"/series?school_id={SCHOOL}",
        f"/series?key_id={KEY}",
    ]
    return [
        *(f"{path}{'&' if '?' in path else '?'}{YEAR}" for path in reports),
        f"/series?interval=hour&school_id={SCHOOL}&{WEEK}",
        f"/keys/{chat_key}/chats",
        f"/chats/{chat_id}/requests",
        f"/reports/users?school_id={SCHOOL}&{YEAR}&csv=1",  # the same as CSV (see below)
    ]


async def _timed(
    client: httpx.AsyncClient, path: str, repeat: int, server_pid: int | None = None
) -> None:
    csv = path.endswith("&csv=1")
    target = path.removesuffix("&csv=1")
    auth = {"Authorization": f"Bearer {TOKEN}", "Accept": "text/csv" if csv else "*/*"}
    reply = await client.get(target, headers=auth)  # warm-up, and a check
    assert reply.status_code == 200, f"{path}: {reply.status_code} {reply.text[:300]}"
    times, cpu = [], []
    server_before = cpu_seconds(server_pid) if server_pid else 0.0
    for _ in range(repeat):
        started, used = time.perf_counter(), time.process_time()
        await client.get(target, headers=auth)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - used) * 1000)
    server = (cpu_seconds(server_pid) - server_before) * 1000 / repeat if server_pid else 0.0
    p95 = statistics.quantiles(times, n=20)[-1]
    label = ("CSV " if csv else "") + target.split("&from=")[0].split("?from=")[0]
    print(
        f"  {label[:66]:<66} {len(reply.content) / 1024:7.1f} KiB"
        f"  median {statistics.median(times):7.1f} ms  p95 {p95:7.1f} ms  max {max(times):7.1f} ms"
        f"  CPU: this process median {statistics.median(cpu):6.1f} ms"
        f" p95 {statistics.quantiles(cpu, n=20)[-1]:6.1f} ms, PostgreSQL {server:5.1f} ms"
    )


async def _wait_ready(client: httpx.AsyncClient) -> None:
    for _ in range(1200):  # the KEYS follower applies the directory first
        if (await client.get("/readyz")).status_code == 200:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("the ledger did not become ready")


async def bench_endpoints(
    pool: Pool,
    database_url: str,
    js: JetStreamContext,
    nats_url: str,
    repeat: int = 20,
    only: str = "",
    server_pid: int | None = None,
) -> None:
    """Publish the directory, start the ledger on the generated data, time every endpoint."""
    await ensure_streams(js)
    await js.purge_stream(USAGE.name)  # the ingest bench's events are not this ledger's
    await _publish(js, list(_directory()))
    async with pool.connection() as conn:
        # The chat with the most requests, and its key (chats are in even schools only).
        cursor = await conn.execute(
            "SELECT chat_id, key_id FROM chats ORDER BY requests DESC, chat_id LIMIT 1"
        )
        row = await cursor.fetchone()
    chat_id, chat_key = (row["chat_id"], row["key_id"]) if row else (uuid.uuid4(), KEY)
    settings = LedgerSettings(
        nats_url=nats_url, database_url=database_url, hash_secret=SecretStr(SECRET)
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ledger") as client:
            await _wait_ready(client)
            for path in questions(chat_id, chat_key):
                if only in path:
                    await _timed(client, path, repeat, server_pid)
