"""create_app(settings): the ledger's lifespan opens its pool and NATS; closes in reverse."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from infra.database import open_pool
from infra.messaging import connect, ensure_streams
from infra.observability import Readiness, health_router
from services.ledger.settings import LedgerSettings


def create_app(settings: LedgerSettings) -> FastAPI:
    """The ledger as an ASGI app; nothing is opened until the lifespan starts."""
    registry = CollectorRegistry()
    readiness = Readiness()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await open_pool(settings.database_url, settings.schema_name)
        nc = await connect(settings.nats_url, f"ledger-{settings.instance_id}")
        await ensure_streams(nc.jetstream())
        try:
            yield
        finally:
            await nc.drain()
            await pool.close()

    app = FastAPI(title="AI-School Coding — ledger", lifespan=lifespan)
    app.include_router(health_router(readiness, registry))
    return app
