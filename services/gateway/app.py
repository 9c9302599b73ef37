"""create_app(settings): the gateway follows KEYS and USAGE into memory, then serves /v1."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import structlog
from fastapi import FastAPI
from nats.aio.client import Client
from prometheus_client import CollectorRegistry

from contracts.events import EventBase, RequestMetered, Role
from contracts.streams import KEYS, USAGE
from infra import supervise as supervised
from infra.follow import Follower
from infra.messaging import connect, ensure_streams
from infra.observability import Readiness, health_router
from services.gateway.anthropic_api import install_anthropic_routes
from services.gateway.api import (
    install_direct_routes,
    install_error_handlers,
    install_openai_routes,
)
from services.gateway.budget import Budgets
from services.gateway.chats import ChatTracker
from services.gateway.exchange import State
from services.gateway.journal import Journal
from services.gateway.journal import recover as recover_journal
from services.gateway.limits import Limit, RateLimiter
from services.gateway.metering import Meter, own_settled
from services.gateway.metrics import GatewayMetrics, StateCollector
from services.gateway.pricing import Model, demo_model, parse_models
from services.gateway.projection import KeyProjection
from services.gateway.proxy import Proxy
from services.gateway.publisher import BatchPublisher
from services.gateway.request_log import quiet_per_request_loggers
from services.gateway.settings import GatewaySettings
from services.gateway.spool import Spool
from services.gateway.upstream import Upstream

log = structlog.get_logger(__name__)


def load_models(settings: GatewaySettings) -> dict[str, Model]:
    """The models file's models, or the built-in ``demo`` when there is no file."""
    if settings.models_file is None:
        return {"demo": demo_model()}
    return parse_models(settings.models_file.read_text(encoding="utf-8"))


def _limits(settings: GatewaySettings) -> dict[Role, Limit]:
    return {
        Role.STUDENT: Limit(
            settings.student_requests_per_minute, settings.student_concurrent_requests
        ),
        Role.STAFF: Limit(settings.staff_requests_per_minute, settings.staff_concurrent_requests),
    }


def _not_started(event: EventBase) -> None:
    raise RuntimeError("the gateway's lifespan has not started")


def _now() -> datetime:
    return datetime.now(UTC)


def _open_meter(
    settings: GatewaySettings, nc: Client, budgets: Budgets, metrics: GatewayMetrics
) -> Meter:
    """The metering queue over JetStream, with the spool of an earlier run counted."""
    js, timeout = nc.jetstream(), settings.metering_publish_timeout_seconds

    async def publish(subject: str, data: bytes, headers: dict[str, str]) -> object:
        return await js.publish(subject, data, timeout=timeout, headers=headers)

    spool = Spool(settings.spool_dir)
    # A crash leaves journaled events unacked: they join the spool before a new journal starts.
    recovered = recover_journal(settings.spool_dir, spool)
    if recovered:
        log.info("usage_journal_recovered", events=recovered)
    journal = Journal(settings.spool_dir)
    meter = Meter(
        publish,
        lambda: bool(nc.is_connected),
        spool,
        metrics.recorded,
        journal,
        gateway_id=settings.instance_id,
        publish_batch=BatchPublisher(nc, timeout).publish,
    )
    # Spooled events of an earlier run count before USAGE is read, so they count once.
    for event in meter.spooled_events():
        if isinstance(event, RequestMetered):
            budgets.restore(event)
    return meter


def _expose_state(collector: StateCollector, state: State) -> None:
    """Keys and requests in flight, read when /metrics is scraped."""
    collector.gauges.update(
        gateway_keys=("Keys known (revoked ones included)", lambda: len(state.projection.by_hash)),
        gateway_requests_in_flight=("Requests admitted, not yet settled", state.limiter.in_flight),
        gateway_reserved_micro_usd=(
            "Budget held by requests in flight, in micro-USD",
            state.budgets.reserved_micro,
        ),
    )


def _expose_metering(
    collector: StateCollector, meter: Meter, followers: dict[str, Follower]
) -> None:
    """The metering queue, its spool and the streams followed, read when /metrics is scraped."""
    collector.gauges.update(
        gateway_metering_queue_events=("Usage events waiting in memory", lambda: meter.queued),
        gateway_metering_spool_events=(
            "Usage events in the spool, waiting for NATS",
            lambda: meter.spool.backlog,
        ),
    )
    collector.counters.update(
        gateway_metering_published=(
            "Usage events acknowledged by JetStream (spool re-publishes included)",
            lambda: meter.published,
        ),
        gateway_metering_spooled=(
            "Usage events written to the spool",
            lambda: meter.spool.appended,
        ),
        gateway_metering_publish_failures=(
            "Usage event publishes that failed or timed out",
            lambda: meter.publish_failures,
        ),
    )
    collector.sequences = {name: _sequence(f) for name, f in followers.items()}


def _sequence(follower: Follower) -> Callable[[], int]:
    return lambda: follower.last_sequence


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_app(settings: GatewaySettings) -> FastAPI:
    """The gateway as an ASGI app; nothing is opened until the lifespan starts."""
    registry, collector = CollectorRegistry(), StateCollector()
    registry.register(collector)
    readiness = Readiness("keys", "usage")
    models = load_models(settings)
    metrics = GatewayMetrics(registry, models)
    projection, budgets = KeyProjection(), Budgets()
    state = State(
        projection=projection,
        budgets=budgets,
        limiter=RateLimiter(_limits(settings)),
        models=models,
        server_secret=settings.hash_secret.get_secret_value().encode(),
        gateway_id=settings.instance_id,
        record=_not_started,
        now=_now,
        new_id=uuid.uuid4,
        min_answer_tokens=settings.min_answer_tokens,
        # Requests are served from memory while NATS is away (metering spools), so only the
        # first catch-up gates them; /readyz also turns red while NATS is unreachable.
        ready=lambda: set(readiness.pending) <= {"nats"},
    )
    _expose_state(collector, state)

    def apply_keys(event: EventBase) -> None:
        projection.apply(event)
        budgets.apply(event)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        quiet_per_request_loggers()
        nc = await connect(settings.nats_url, f"gateway-{settings.instance_id}")
        js = nc.jetstream()
        await ensure_streams(js, settings.stream_replicas)
        meter = _open_meter(settings, nc, budgets, metrics)
        state.record, state.intend, state.fulfil = meter.record, meter.intend, meter.fulfil
        upstream = Upstream(
            models, settings.upstream_timeout_seconds, settings.upstream_connect_timeout_seconds
        )
        chats = ChatTracker(uuid.uuid4, settings.max_chats_per_key)
        app.state.proxy = Proxy(state, upstream, chats, metrics, settings.max_request_bytes)
        own = own_settled(settings.instance_id, budgets.settled_here)
        followers = [Follower(js, KEYS, apply_keys), Follower(js, USAGE, budgets.apply, own)]
        _expose_metering(collector, meter, {KEYS.name: followers[0], USAGE.name: followers[1]})
        for follower in followers:
            await follower.start()
        log.info("gateway_started", gateway_id=settings.instance_id, models=sorted(models))
        tasks = [
            readiness.watch("keys", followers[0].caught_up),
            readiness.watch("usage", followers[1].caught_up),
            supervised.start("gateway-meter", meter.run),
        ]
        readiness.check("nats", lambda: bool(nc.is_connected))
        try:
            yield
        finally:
            await _cancel(tasks)
            await meter.flush()
            for follower in followers:
                await follower.stop()
            await upstream.aclose()
            # Draining waits for a server; with NATS away, the spool already holds everything.
            await (nc.drain() if nc.is_connected else nc.close())

    app = FastAPI(title="AI-School Coding — gateway", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(health_router(readiness, registry))
    install_openai_routes(app)
    install_anthropic_routes(app)
    install_direct_routes(app)
    return app
