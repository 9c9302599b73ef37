"""create_app(settings): the gateway follows KEYS and USAGE into memory, then serves /v1."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import structlog
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from nats.aio.client import Client
from prometheus_client import CollectorRegistry

from contracts.events import ChatCreated, EventBase, RequestMetered, Role
from contracts.streams import KEYS, USAGE
from infra.follow import Follower
from infra.lifespan import Startup, lifespan
from infra.messaging import close as close_nats
from infra.messaging import connect, ensure_streams
from infra.observability import Readiness, health_router
from services.gateway.adapters.journal import Journal
from services.gateway.adapters.journal import recover as recover_journal
from services.gateway.adapters.lease_keeper import LeaseKeeper, LeaseTiming
from services.gateway.adapters.lease_store import LeaseStore
from services.gateway.adapters.metering import Meter, own_settled
from services.gateway.adapters.publisher import BatchPublisher
from services.gateway.adapters.request_log import quiet_per_request_loggers
from services.gateway.adapters.spool import Spool
from services.gateway.adapters.upstream import Upstream
from services.gateway.adapters.wire import GatewayApp
from services.gateway.api.anthropic import install_anthropic_routes
from services.gateway.api.openai import install_error_handlers, install_openai_routes
from services.gateway.domain.budget import Budgets
from services.gateway.domain.chats import ChatTracker
from services.gateway.domain.limits import Limit, RateLimiter
from services.gateway.domain.pricing import Model, demo_model, parse_models
from services.gateway.domain.projection import KeyProjection
from services.gateway.metrics import GatewayMetrics, StateCollector
from services.gateway.runtime import GatewayRuntime
from services.gateway.settings import GatewaySettings
from services.gateway.usecases.exchange import State
from services.gateway.usecases.proxy import Proxy

log = structlog.get_logger(__name__)
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


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
        gateway_keys=("Keys known (revoked ones included)", lambda: len(state.projection.keys)),
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


@dataclass(frozen=True)
class Parts:
    """What the gateway builds before it starts (no I/O): metrics, readiness, projections."""

    settings: GatewaySettings
    registry: CollectorRegistry
    collector: StateCollector
    readiness: Readiness
    models: dict[str, Model]
    metrics: GatewayMetrics
    projection: KeyProjection
    budgets: Budgets

    def apply_keys(self, event: EventBase) -> None:
        """A ``KEYS`` event into the key projection and the budgets."""
        self.projection.apply(event)
        self.budgets.apply(event)


def _parts(settings: GatewaySettings) -> Parts:
    registry, collector = CollectorRegistry(), StateCollector()
    registry.register(collector)
    models = load_models(settings)
    metrics = GatewayMetrics(registry, models)
    readiness = Readiness("keys", "usage")
    projection = KeyProjection()
    budgets = Budgets(projection.period_start_of, gateway_id=settings.instance_id, leased=True)
    return Parts(settings, registry, collector, readiness, models, metrics, projection, budgets)


def _state(parts: Parts, meter: Meter) -> State:
    settings, readiness = parts.settings, parts.readiness
    return State(
        projection=parts.projection,
        budgets=parts.budgets,
        limiter=RateLimiter(_limits(settings)),
        models=parts.models,
        server_secret=settings.hash_secret.get_secret_value().encode(),
        gateway_id=settings.instance_id,
        record=meter.record,
        intend=meter.intend,
        fulfil=meter.fulfil,
        now=_now,
        new_id=uuid.uuid4,
        min_answer_tokens=settings.min_answer_tokens,
        # Requests are served from memory while NATS is away (metering spools), so only the
        # first catch-up gates them; /readyz also turns red while NATS is unreachable.
        ready=lambda: set(readiness.pending) <= {"nats"},
    )


async def _follow(
    parts: Parts, startup: Startup, nc: Client, chats: ChatTracker
) -> dict[str, Follower]:
    def apply_usage(event: EventBase) -> None:
        parts.budgets.apply(event)
        if isinstance(event, ChatCreated):  # the other replicas' chats (and our own)
            chats.learn(event.key_id, event.chat_id, event.opening, event.session)

    js = nc.jetstream()
    followers = {
        # KEYS holds every key ever issued: its history is read in batches (infra/replay.py).
        KEYS.name: Follower(
            js, KEYS, parts.apply_keys, batched=nc, fast=parts.projection.keys.issue_json
        ),
        # Our own settled RequestMetered is passed over undecoded (it would be skipped).
        USAGE.name: Follower(
            js,
            USAGE,
            apply_usage,
            own_settled(parts.settings.instance_id, parts.budgets.settled_here),
        ),
    }
    for follower in followers.values():
        await startup.open(follower.start(), Follower.stop)
    startup.task(parts.readiness.watch("keys", followers[KEYS.name].caught_up))
    startup.task(parts.readiness.watch("usage", followers[USAGE.name].caught_up))
    return followers


# --- Budget leases (issue 13): the replicas share each key's budget through BUDGET_LEASES. ---


async def _open_leases(parts: Parts, startup: Startup, nc: Client, state: State) -> LeaseKeeper:
    """The lease store (watching the bucket) and its keeper; at shut-down the keeper stops,
    gives every lease back (if NATS is there), then the store stops watching."""
    settings = parts.settings
    timeout = settings.budget_lease_timeout_seconds
    store = LeaseStore(nc.jetstream(timeout=timeout), settings.stream_replicas)
    await startup.open(_opened(store), LeaseStore.close)
    timing = LeaseTiming(
        settings.budget_lease_seconds, settings.budget_lease_report_seconds, timeout
    )
    keeper = LeaseKeeper(
        store, state.budgets, state.projection.get, settings.instance_id, state.now, timing
    )
    state.lease, state.limiter.share = keeper.acquire, keeper.holders
    startup.on_close(lambda: keeper.close() if nc.is_connected else _nothing())
    startup.start("gateway-leases", keeper.run)
    parts.collector.counters.update(
        gateway_budget_lease_takes=(
            "Requests that asked the lease table for more",
            lambda: keeper.takes,
        ),
        gateway_budget_lease_writes=(
            "Lease table writes (takes, reports, give-backs)",
            lambda: store.writes,
        ),
        gateway_budget_lease_conflicts=(
            "Lease table writes refused because another replica wrote first",
            lambda: store.conflicts,
        ),
    )
    return keeper


async def _opened(store: LeaseStore) -> LeaseStore:
    await store.open()
    return store


async def _nothing() -> None:
    return None


async def open_gateway(parts: Parts, startup: Startup) -> GatewayRuntime:
    """Connect, open the meter and the upstreams, follow KEYS and USAGE; undone in reverse."""
    settings = parts.settings
    quiet_per_request_loggers()
    # Closed without draining while NATS is away: the spool already holds everything.
    nc = await startup.open(
        connect(settings.nats_url, f"gateway-{settings.instance_id}"), close_nats
    )
    js = nc.jetstream()
    await ensure_streams(js, settings.stream_replicas)
    meter = startup.own(_open_meter(settings, nc, parts.budgets, parts.metrics), Meter.flush)
    state = _state(parts, meter)
    _expose_state(parts.collector, state)
    timeouts = settings.upstream_timeout_seconds, settings.upstream_connect_timeout_seconds
    upstream = startup.own(Upstream(parts.models, *timeouts), Upstream.aclose)
    upstream.start()  # Google access tokens, fetched ahead of expiry
    chats = ChatTracker(uuid.uuid4, settings.max_chats_per_key)
    proxy = Proxy(state, upstream, chats, parts.metrics, settings.max_request_bytes)
    await _open_leases(parts, startup, nc, state)
    followers = await _follow(parts, startup, nc, chats)
    _expose_metering(parts.collector, meter, followers)
    log.info("gateway_started", gateway_id=settings.instance_id, models=sorted(parts.models))
    startup.start("gateway-meter", meter.run)
    parts.readiness.check("nats", lambda: bool(nc.is_connected))
    return GatewayRuntime(settings, nc, meter, state, proxy, followers)


def create_app(settings: GatewaySettings) -> FastAPI:
    """The gateway as an ASGI app; nothing is opened until the lifespan starts."""
    parts = _parts(settings)
    app = GatewayApp(
        title="AI-School Coding — gateway",
        lifespan=lifespan(partial(open_gateway, parts)),
        # FastAPI's OpenTelemetry hook looks for a configured provider (os.environ) on every
        # request (about 5 % of the samples in a profile); our metrics are Prometheus.
        telemetry=NO_TELEMETRY,
    )
    install_error_handlers(app)
    app.include_router(health_router(parts.readiness, parts.registry))
    install_openai_routes(app)
    install_anthropic_routes(app)
    app.serve_directly()  # the forwarding POSTs before FastAPI's middlewares (wire.py)
    return app
