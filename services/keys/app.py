"""create_app(settings): the keys service's lifespan opens pool, NATS, relay, projections,
the renewal and roster schedules; closes them in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import structlog
from fastapi import FastAPI
from nats.aio.client import Client
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry, Gauge

from contracts.streams import USAGE
from infra import supervise as supervised
from infra.body_limit import BodyLimit
from infra.database import Pool, migrate, open_pool
from infra.follow import Follower
from infra.messaging import connect, ensure_streams
from infra.observability import Readiness, health_router
from infra.problems import install_problem_handlers
from services.keys.api import ApiRuntime, include_routers, install_error_handlers
from services.keys.api_directory import MAX_JSON_BYTES, MAX_ZIP_BYTES
from services.keys.catchup import Projector
from services.keys.handlers import Context
from services.keys.projection import ReadModel
from services.keys.relay import Relay
from services.keys.renewal import run_schedule
from services.keys.roster_schedule import run_roster_schedule
from services.keys.settings import KeysSettings
from services.keys.sheets import nats_documents
from services.keys.store import EventStore
from services.keys.web.mount import mount_console

log = structlog.get_logger(__name__)
SQL_DIR = Path(__file__).parent / "sql"
LISTENERS = ("keys-relay", "keys-projection")


def utc_now() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


def make_context(
    settings: KeysSettings, projector: Projector, clock: Callable[[], datetime] = utc_now
) -> Context:
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


@dataclass
class KeysRuntime:
    """What request handlers need, opened by the lifespan."""

    settings: KeysSettings
    pool: Pool
    nc: Client
    js: JetStreamContext
    store: EventStore
    relay: Relay
    ctx: Context


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    # The LISTEN loops (relay, projection) were asked to stop and return within a second;
    # cancelling them inside psycopg's notifies() has been seen to hang. The rest is cancelled.
    listening = [t for t in tasks if t.get_name() in LISTENERS]
    for task in tasks:
        if task not in listening:
            task.cancel()
    _, stuck = await asyncio.wait(tasks, timeout=5)
    for task in stuck:
        log.warning("task_did_not_stop", task=task.get_name())
        task.cancel()


def create_app(settings: KeysSettings, clock: Callable[[], datetime] = utc_now) -> FastAPI:
    """The keys service as an ASGI app; nothing is opened until the lifespan starts."""
    registry = CollectorRegistry()
    readiness = Readiness("relay", "projection", "usage")
    relay_position = Gauge(
        "keys_relay_position", "Last event position published to KEYS", registry=registry
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db_url = settings.database_url
        await migrate(db_url, settings.schema_name, SQL_DIR)
        pool = await open_pool(db_url, settings.schema_name)
        nc = await connect(settings.nats_url, f"keys-{settings.instance_id}")
        js = nc.jetstream()
        await ensure_streams(js, settings.stream_replicas)
        store = EventStore(pool)
        relay = Relay(pool, js, db_url)
        relay_position.set_function(lambda: relay.position)
        model = ReadModel()
        projector = Projector(store, model)
        ctx = make_context(settings, projector, clock)
        usage = Follower(js, USAGE, model.spend.apply)
        await usage.start()
        app.state.runtime = KeysRuntime(settings, pool, nc, js, store, relay, ctx)
        documents = nats_documents(nc, settings.render_timeout_seconds)
        app.state.api = ApiRuntime(ctx, documents, settings.default_time_zone)
        tasks = [
            supervised.start("keys-relay", relay.run, healthy=relay.caught_up),
            supervised.start(
                "keys-projection", lambda: projector.follow(db_url), healthy=projector.caught_up
            ),
            supervised.start(
                "keys-renewal", lambda: run_schedule(ctx, settings.renewal_interval_seconds)
            ),
            supervised.start(
                "keys-roster", lambda: run_roster_schedule(ctx, settings.renewal_interval_seconds)
            ),
            readiness.watch("relay", relay.caught_up),
            readiness.watch("projection", projector.caught_up),
            readiness.watch("usage", usage.caught_up),
        ]
        readiness.check("nats", lambda: bool(nc.is_connected))
        try:
            yield
        finally:
            relay.stop()
            projector.stop()
            with contextlib.suppress(psycopg.Error):
                await store.wake_listeners()
            await _stop(tasks)
            await usage.stop()
            await nc.drain()
            await pool.close()

    app = FastAPI(title="AI-School Coding — keys", lifespan=lifespan)
    app.add_middleware(BodyLimit, limit=MAX_JSON_BYTES, per_path={"/oneroster": MAX_ZIP_BYTES})
    install_problem_handlers(app)
    install_error_handlers(app)
    app.include_router(health_router(readiness, registry))
    include_routers(app)
    mount_console(app, settings, clock)
    return app
