"""create_app(settings): the documents service answers render requests over core NATS."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from infra.messaging import connect
from infra.observability import Readiness, health_router
from services.documents.settings import DocumentsSettings


def create_app(settings: DocumentsSettings) -> FastAPI:
    """The documents service as an ASGI app; nothing is opened until the lifespan starts."""
    registry = CollectorRegistry()
    readiness = Readiness()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nc = await connect(settings.nats_url, f"documents-{settings.instance_id}")
        try:
            yield
        finally:
            await nc.drain()

    app = FastAPI(title="AI-School Coding — documents", lifespan=lifespan)
    app.include_router(health_router(readiness, registry))
    return app
