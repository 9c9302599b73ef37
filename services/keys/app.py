"""create_app(settings): the keys service's lifespan opens pool, NATS, relay, projections,
the renewal and roster schedules; closes them in reverse (``infra.lifespan``)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import psycopg
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Gauge

from contracts.streams import USAGE
from infra.body_limit import BodyLimit
from infra.database import Pool, migrate, open_pool
from infra.follow import Follower
from infra.lifespan import Startup, lifespan
from infra.messaging import close as close_nats
from infra.messaging import connect, ensure_streams
from infra.observability import Readiness, health_router
from infra.problems import install_problem_handlers
from services.keys.adapters.listen import follow as listen_for_writes
from services.keys.adapters.relay import Relay
from services.keys.adapters.sheets import nats_documents
from services.keys.adapters.store import PostgresEventStore
from services.keys.api import routes
from services.keys.api.directory import MAX_JSON_BYTES, MAX_ZIP_BYTES
from services.keys.domain.projection import ReadModel
from services.keys.runtime import KeysRuntime
from services.keys.settings import KeysSettings
from services.keys.usecases.context import Context
from services.keys.usecases.projector import Projector
from services.keys.usecases.renewal import run_schedule
from services.keys.usecases.roster_schedule import run_roster_schedule
from services.keys.web.mount import mount_console

SQL_DIR = Path(__file__).parent / "sql"
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


def make_context(settings: KeysSettings, projector: Projector, clock: Clock = utc_now) -> Context:
    """The use cases' context from settings: secret, budget limit, clock, ids, base URL, model."""
    return Context(
        projector=projector,
        secret=settings.hash_secret.get_secret_value().encode(),
        max_budget_usd=settings.max_budget_usd,
        clock=clock,
        new_id=uuid.uuid4,
        base_url=settings.gateway_base_url,
        default_model=settings.default_model,
    )


@dataclass(frozen=True)
class Meters:
    """Readiness and metrics, made before the service starts."""

    registry: CollectorRegistry
    readiness: Readiness
    relay_position: Gauge

    @classmethod
    def make(cls) -> Meters:
        registry = CollectorRegistry()
        relay_position = Gauge(
            "keys_relay_position", "Last event position published to KEYS", registry=registry
        )
        return cls(registry, Readiness("relay", "projection", "usage"), relay_position)


def _asking(stop: Callable[[], None], store: PostgresEventStore) -> Callable[[], Awaitable[None]]:
    """How to ask a LISTEN loop to stop: set its flag, then NOTIFY so it wakes to see it."""

    async def ask() -> None:
        stop()
        with contextlib.suppress(psycopg.Error):
            await store.wake_listeners()

    return ask


def _schedules(startup: Startup, settings: KeysSettings, ctx: Context) -> None:
    every = settings.renewal_interval_seconds
    startup.start("keys-renewal", partial(run_schedule, ctx, every))
    startup.start("keys-roster", partial(run_roster_schedule, ctx, every))


async def open_keys(
    settings: KeysSettings, meters: Meters, clock: Clock, startup: Startup
) -> KeysRuntime:
    """Migrate, open pool and NATS, follow USAGE, run relay, projection and schedules."""
    db_url, readiness = settings.database_url, meters.readiness
    await migrate(db_url, settings.schema_name, SQL_DIR)
    pool = await startup.open(open_pool(db_url, settings.schema_name), Pool.close)
    nc = await startup.open(connect(settings.nats_url, f"keys-{settings.instance_id}"), close_nats)
    js = nc.jetstream()
    await ensure_streams(js, settings.stream_replicas)
    store, model = PostgresEventStore(pool), ReadModel()
    projector, relay = Projector(store, model), Relay(pool, js, db_url)
    meters.relay_position.set_function(lambda: relay.position)
    ctx = make_context(settings, projector, clock)
    usage = await startup.open(Follower(js, USAGE, model.spend.apply).start(), Follower.stop)
    relay_stop, projector_stop = _asking(relay.stop, store), _asking(projector.stop, store)
    startup.start("keys-relay", relay.run, healthy=relay.caught_up, stop=relay_stop)
    follow = partial(listen_for_writes, projector, db_url)
    startup.start("keys-projection", follow, healthy=projector.caught_up, stop=projector_stop)
    _schedules(startup, settings, ctx)
    for name, event in (
        ("relay", relay.caught_up),
        ("projection", projector.caught_up),
        ("usage", usage.caught_up),
    ):
        startup.task(readiness.watch(name, event))
    readiness.check("nats", lambda: bool(nc.is_connected))
    documents = nats_documents(nc, settings.render_timeout_seconds)
    return KeysRuntime(settings, pool, nc, js, store, relay, ctx, documents, usage)


def create_app(settings: KeysSettings, clock: Clock = utc_now) -> FastAPI:
    """The keys service as an ASGI app; nothing is opened until the lifespan starts."""
    meters = Meters.make()
    app = FastAPI(
        title="AI-School Coding — keys",
        lifespan=lifespan(partial(open_keys, settings, meters, clock)),
    )
    app.add_middleware(BodyLimit, limit=MAX_JSON_BYTES, per_path={"/oneroster": MAX_ZIP_BYTES})
    install_problem_handlers(app)
    app.include_router(health_router(meters.readiness, meters.registry))
    routes.install(app)
    mount_console(app, settings, clock)
    return app
