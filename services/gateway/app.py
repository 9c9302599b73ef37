"""create_app(settings): the gateway follows KEYS into memory before it says it is ready."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from contracts.events import EventBase
from contracts.streams import KEYS
from infra.follow import Follower
from infra.messaging import connect, ensure_streams
from infra.observability import Readiness, health_router
from services.gateway.settings import GatewaySettings


def create_app(settings: GatewaySettings) -> FastAPI:
    """The gateway as an ASGI app; nothing is opened until the lifespan starts."""
    registry = CollectorRegistry()
    readiness = Readiness("keys")

    def apply(event: EventBase) -> None:
        del event  # the key projection comes with the gateway issue

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nc = await connect(settings.nats_url, f"gateway-{settings.instance_id}")
        js = nc.jetstream()
        await ensure_streams(js)
        keys = Follower(js, KEYS, apply)
        await keys.start()
        watcher = readiness.watch("keys", keys.caught_up)
        try:
            yield
        finally:
            watcher.cancel()
            await keys.stop()
            await nc.drain()

    app = FastAPI(title="AI-School Coding — gateway", lifespan=lifespan)
    app.include_router(health_router(readiness, registry))
    return app
