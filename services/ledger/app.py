"""create_app(settings): the lifespan opens pool, NATS, follower and consumer; closes in reverse."""

from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path

from fastapi import FastAPI
from nats.aio.client import Client
from prometheus_client import CollectorRegistry, Counter, Gauge

from contracts.streams import KEYS
from infra.database import Pool, migrate, open_pool
from infra.follow import Follower
from infra.lifespan import Startup, lifespan
from infra.messaging import close as close_nats
from infra.messaging import connect, ensure_streams
from infra.observability import Readiness, health_router
from infra.problems import install_problem_handlers
from services.ledger.adapters.store import Written
from services.ledger.api import dead_letters
from services.ledger.api import reports as api
from services.ledger.domain.projection import KeysView
from services.ledger.domain.rows import Batch
from services.ledger.runtime import LedgerRuntime
from services.ledger.settings import LedgerSettings
from services.ledger.usecases.ingest import UsageConsumer
from services.ledger.usecases.maintenance import maintain, maintain_forever

SQL_DIR = Path(__file__).parent / "sql"


def _today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class Meters:
    """The ledger's readiness and Prometheus metrics, made before it starts."""

    registry: CollectorRegistry
    readiness: Readiness
    events: Counter
    position: Gauge

    @classmethod
    def make(cls) -> Meters:
        registry = CollectorRegistry()
        events = Counter(
            "ledger_usage_events", "Usage events by outcome", ["outcome"], registry=registry
        )
        position = Gauge("ledger_usage_sequence", "Last USAGE sequence ingested", registry=registry)
        return cls(registry, Readiness("keys", "usage"), events, position)

    def count(self, written: Written, batch: Batch) -> None:
        """A batch's inserted, duplicate and expired events."""
        self.events.labels("inserted").inc(written.requests + written.chats)
        duplicates = len(batch.requests) + len(batch.chats) - written.requests - written.chats
        self.events.labels("duplicate").inc(duplicates)
        self.events.labels("expired").inc(batch.expired)


def _consumer(
    s: LedgerSettings, meters: Meters, nc: Client, pool: Pool, view: KeysView
) -> UsageConsumer:
    return UsageConsumer(
        nc,
        pool,
        today=_today,
        retention_months=s.retention_months,
        batch_size=s.ingest_batch_size,
        ack_wait=s.ingest_ack_wait_seconds,
        on_written=meters.count,
        zone_of=view.time_zone,
        on_dead=meters.events.labels("dead_letter").inc,
    )


async def open_ledger(s: LedgerSettings, meters: Meters, startup: Startup) -> LedgerRuntime:
    """Migrate, open pool and NATS, follow KEYS, then consume USAGE; undone in reverse."""
    await migrate(s.database_url, s.schema_name, SQL_DIR)
    # Sessions in UTC: the ledger's SQL names every zone it means (a school's), and psycopg
    # reads a UTC session's timestamps with the fixed UTC offset, not a ZoneInfo: 4-5 ms
    # less CPU to read a year of a school's group x day rows (14 600 timestamps).
    pool = await startup.open(open_pool(s.database_url, s.schema_name, time_zone="UTC"), Pool.close)
    nc = await startup.open(connect(s.nats_url, f"ledger-{s.instance_id}"), close_nats)
    js = nc.jetstream()
    await ensure_streams(js, s.stream_replicas)
    await maintain(pool, _today(), s.partitions_ahead, s.retention_months)
    view = KeysView()
    follower = await startup.open(Follower(js, KEYS, view.apply).start(), Follower.stop)
    consumer = _consumer(s, meters, nc, pool, view)

    async def consume() -> None:
        # Rows are rolled up on the school's local day, so the schools' zones must be
        # known before the first batch is written.
        await follower.caught_up.wait()
        await consumer.run()

    maintenance = partial(
        maintain_forever,
        pool,
        _today,
        s.partitions_ahead,
        s.retention_months,
        s.maintenance_interval_seconds,
    )
    startup.start("ledger-consumer", consume, healthy=consumer.caught_up)
    startup.task(asyncio.create_task(_freeze_when_caught_up(follower)))
    startup.start("ledger-maintenance", maintenance)
    startup.task(meters.readiness.watch("keys", follower.caught_up))
    startup.task(meters.readiness.watch("usage", consumer.caught_up))
    meters.readiness.check("nats", lambda: bool(nc.is_connected))
    meters.position.set_function(lambda: consumer.last_sequence)
    return LedgerRuntime(s, pool, js, view)


async def _freeze_when_caught_up(follower: Follower) -> None:
    """Once the directory is loaded, keep what start-up made out of the collector's passes.

    Modules, the app and the directory (about 120 000 objects) live as long as the process;
    a full collection walked them all (55-80 ms of CPU), and a year of a school's group x day
    report (7 300 rows) set one off in about one answer in 40, doubling its p95."""
    await follower.caught_up.wait()
    gc.freeze()


def create_app(settings: LedgerSettings) -> FastAPI:
    """The ledger as an ASGI app; nothing is opened until the lifespan starts."""
    meters = Meters.make()
    app = FastAPI(
        title="AI-School Coding — ledger", lifespan=lifespan(partial(open_ledger, settings, meters))
    )
    install_problem_handlers(app)
    app.include_router(health_router(meters.readiness, meters.registry))
    api.install(app)
    app.include_router(dead_letters.router)
    return app
