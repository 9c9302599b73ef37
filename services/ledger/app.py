"""create_app(settings): the lifespan opens pool, NATS, follower and consumer; closes in reverse."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge

from contracts.streams import KEYS
from infra import supervise as supervised
from infra.database import migrate, open_pool
from infra.follow import Follower
from infra.messaging import connect, ensure_streams
from infra.observability import Readiness, health_router
from infra.problems import install_problem_handlers
from services.ledger import api, dead_letters
from services.ledger.consumer import UsageConsumer
from services.ledger.maintenance import maintain, maintain_forever
from services.ledger.projection import KeysView
from services.ledger.rows import Batch
from services.ledger.settings import LedgerSettings
from services.ledger.store import Written

SQL_DIR = Path(__file__).parent / "sql"


def _today() -> date:
    return datetime.now(UTC).date()


def create_app(settings: LedgerSettings) -> FastAPI:
    """The ledger as an ASGI app; nothing is opened until the lifespan starts."""
    registry = CollectorRegistry()
    readiness = Readiness("keys", "usage")
    events = Counter(
        "ledger_usage_events", "Usage events by outcome", ["outcome"], registry=registry
    )
    position = Gauge("ledger_usage_sequence", "Last USAGE sequence ingested", registry=registry)

    def count(written: Written, batch: Batch) -> None:
        events.labels("inserted").inc(written.requests + written.chats)
        duplicates = len(batch.requests) + len(batch.chats) - written.requests - written.chats
        events.labels("duplicate").inc(duplicates)
        events.labels("expired").inc(batch.expired)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        s = settings
        await migrate(s.database_url, s.schema_name, SQL_DIR)
        pool = await open_pool(s.database_url, s.schema_name)
        nc = await connect(s.nats_url, f"ledger-{s.instance_id}")
        js = nc.jetstream()
        await ensure_streams(js, s.stream_replicas)
        await maintain(pool, _today(), s.partitions_ahead, s.retention_months)
        view = KeysView()
        follower = Follower(js, KEYS, view.apply)
        await follower.start()
        consumer = UsageConsumer(
            nc,
            pool,
            today=_today,
            retention_months=s.retention_months,
            batch_size=s.ingest_batch_size,
            ack_wait=s.ingest_ack_wait_seconds,
            on_written=count,
            zone_of=view.time_zone,
            on_dead=events.labels("dead_letter").inc,
        )

        async def consume() -> None:
            # Rows are rolled up on the school's local day, so the schools' zones must be
            # known before the first batch is written.
            await follower.caught_up.wait()
            await consumer.run()

        app.state.runtime = api.LedgerRuntime(s, pool, js, view)
        tasks = [
            supervised.start("ledger-consumer", consume, healthy=consumer.caught_up),
            supervised.start(
                "ledger-maintenance",
                lambda: maintain_forever(
                    pool,
                    _today,
                    s.partitions_ahead,
                    s.retention_months,
                    s.maintenance_interval_seconds,
                ),
            ),
            readiness.watch("keys", follower.caught_up),
            readiness.watch("usage", consumer.caught_up),
        ]
        readiness.check("nats", lambda: bool(nc.is_connected))
        position.set_function(lambda: consumer.last_sequence)
        try:
            yield
        finally:
            for task in reversed(tasks):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await follower.stop()
            await nc.drain()
            await pool.close()

    app = FastAPI(title="AI-School Coding — ledger", lifespan=lifespan)
    install_problem_handlers(app)
    app.include_router(health_router(readiness, registry))
    api.install(app)
    app.include_router(dead_letters.router)
    return app
