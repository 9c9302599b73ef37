"""create_app(settings): the keys service's lifespan opens pool, NATS, relay; closes in reverse."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from nats.aio.client import Client
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry, Gauge

from infra.database import Pool, migrate, open_pool
from infra.messaging import connect, ensure_streams
from infra.observability import Readiness, health_router
from services.keys.relay import Relay
from services.keys.settings import KeysSettings
from services.keys.store import EventStore

SQL_DIR = Path(__file__).parent / "sql"


@dataclass
class KeysRuntime:
    """What request handlers need, opened by the lifespan."""

    settings: KeysSettings
    pool: Pool
    nc: Client
    js: JetStreamContext
    store: EventStore
    relay: Relay


def create_app(settings: KeysSettings) -> FastAPI:
    """The keys service as an ASGI app; nothing is opened until the lifespan starts."""
    registry = CollectorRegistry()
    readiness = Readiness("relay")
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
        await ensure_streams(js)
        relay = Relay(pool, js, db_url, on_published=relay_position.set)
        task = asyncio.create_task(relay.run(), name="keys-relay")
        app.state.runtime = KeysRuntime(settings, pool, nc, js, EventStore(pool), relay)
        watcher = readiness.watch("relay", relay.caught_up)
        try:
            yield
        finally:
            for background in (watcher, task):
                background.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await background
            await nc.drain()
            await pool.close()

    app = FastAPI(title="AI-School Coding — keys", lifespan=lifespan)
    app.include_router(health_router(readiness, registry))
    return app
