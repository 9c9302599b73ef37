"""create_app(settings): the documents service answers render requests over core NATS."""

from __future__ import annotations

import logging
from functools import partial

from fastapi import FastAPI
from faststream.nats import NatsBroker, NatsMessage, NatsResponse
from prometheus_client import CollectorRegistry

from contracts.streams import RENDER_KEY_LETTER, RENDER_KEY_SHEET
from infra.lifespan import Startup, lifespan
from infra.observability import Readiness, health_router
from services.documents.adapters.pool import RenderPool, ThreadRender, make_render
from services.documents.api.responder import RenderMetrics, Responder
from services.documents.domain.parsing import DocumentKind
from services.documents.runtime import DocumentsRuntime
from services.documents.settings import DocumentsSettings

# Replicas share the work: each request goes to one member of the queue group.
QUEUE_GROUP = "documents"
# Several requests in flight, so a bad one is answered while a sheet renders; the workers
# take the parts of all of them in turn.
CONCURRENT_REQUESTS = 4


def _broker(settings: DocumentsSettings, responder: Responder) -> NatsBroker:
    # FastStream fits here: start()/stop() sit in our lifespan, handlers are typed, and
    # NatsResponse sets the status header. Core subscribers only (no stream=...): a request
    # carries plaintext keys and must never be stored by JetStream.
    broker = NatsBroker(
        settings.nats_url,
        name=f"documents-{settings.instance_id}",
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        connect_timeout=2,
        ping_interval=5,
        logger=logging.getLogger("faststream"),
    )

    def subscribe(subject: str, kind: DocumentKind) -> None:
        async def handle(message: NatsMessage) -> NatsResponse:
            reply = await responder.answer(message.body, kind)
            return NatsResponse(reply.body, headers=reply.headers)

        broker.subscriber(subject, queue=QUEUE_GROUP, max_workers=CONCURRENT_REQUESTS)(handle)

    subscribe(RENDER_KEY_SHEET, DocumentKind.SHEET)
    subscribe(RENDER_KEY_LETTER, DocumentKind.LETTER)
    return broker


async def _stop_broker(broker: NatsBroker) -> None:
    await broker.stop()


async def open_documents(
    settings: DocumentsSettings, readiness: Readiness, metrics: RenderMetrics, startup: Startup
) -> DocumentsRuntime:
    """Warm the renderers, subscribe, then say ready; undone in reverse."""
    # WeasyPrint is CPU-bound: renders run in worker processes (or one worker thread),
    # so the event loop keeps answering health checks and bad requests meanwhile.
    render = startup.own(make_render(settings.render_processes), _close_render)
    await render.warm()
    broker = _broker(settings, Responder(render, metrics))
    startup.on_close(partial(_stop_broker, broker))
    await broker.start()
    # A PING/PONG round trip: the server has registered our subscriptions before we
    # say we are ready, so a request right after /readyz finds a responder.
    await broker.connection.flush()
    readiness.done("subscribed")
    startup.on_close(partial(_undo, readiness, "subscribed"))
    # Without NATS no render request reaches us: /readyz says so until it is back.
    connection = broker.connection
    readiness.check("nats", lambda: bool(connection.is_connected))
    return DocumentsRuntime(render, broker)


async def _close_render(render: RenderPool | ThreadRender) -> None:
    render.close()


async def _undo(readiness: Readiness, condition: str) -> None:
    readiness.undo(condition)


def create_app(settings: DocumentsSettings) -> FastAPI:
    """The documents service as an ASGI app; nothing is opened until the lifespan starts."""
    registry = CollectorRegistry()
    readiness = Readiness("subscribed")
    metrics = RenderMetrics(registry)
    app = FastAPI(
        title="AI-School Coding — documents",
        lifespan=lifespan(partial(open_documents, settings, readiness, metrics)),
    )
    app.include_router(health_router(readiness, registry))
    return app
