"""The gateway's Prometheus metrics on the app's own registry.

Labels are bounded: endpoint, a model from the models file, HTTP status, error code, stream
name. No key, key hash or user ever becomes a label; a model name a client made up is
counted as ``model=""``. Children are bound once and kept in dicts, so the request path
pays one dict lookup and one ``inc`` per series; state the gateway already holds (keys,
reservations, the spool) is read only when ``/metrics`` is scraped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from contracts.events import ChatCreated, EventBase, RequestMetered
from services.gateway.errors import GatewayError

NO_MODEL = ""
FORWARDED = ("/chat/completions", "/completions", "/embeddings", "/responses", "/messages")
TOKEN_KINDS = ("prompt", "completion", "cached")
# LLM answers take from a fraction of a second to minutes.
UPSTREAM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
OVERHEAD_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)


class ModelMetrics:
    """The per-model series a request touches, bound once."""

    def __init__(self, metrics: GatewayMetrics, model: str) -> None:
        self.first_chunk = metrics.first_chunk.labels(model)
        self.upstream = metrics.upstream.labels(model)
        self.tokens = [metrics.tokens.labels(model, kind) for kind in TOKEN_KINDS]
        self.cost = metrics.cost.labels(model)
        self.chats = metrics.chats.labels(model)


class Timing:
    """One forwarded request's clock: upstream time by model, and the gateway's own time."""

    __slots__ = ("_first", "_model", "_overhead", "_received", "_sent", "_started")

    def __init__(self, model: ModelMetrics, overhead: Histogram, started: float) -> None:
        self._model, self._overhead = model, overhead
        self._started = started
        self._sent = self._received = started
        self._first = True

    def sending(self) -> None:
        """The request leaves for the upstream now."""
        self._sent = time.perf_counter()

    def first_chunk(self) -> None:
        """A streamed answer's first chunk arrived (observed once)."""
        if self._first:
            self._first = False
            self._model.first_chunk.observe(time.perf_counter() - self._sent)

    def received(self) -> None:
        """The upstream's answer is complete."""
        self._received = time.perf_counter()
        self._model.upstream.observe(self._received - self._sent)

    def answered(self) -> None:
        """A whole answer is ready for the client: gateway time before and after upstream."""
        before = self._sent - self._started
        self._overhead.observe(before + time.perf_counter() - self._received)

    def relaying(self) -> None:
        """A stream starts: gateway time until the request left (chunks are the upstream's)."""
        self._overhead.observe(self._sent - self._started)


class GatewayMetrics:
    """Counters and histograms updated on the request path and by the metering queue."""

    def __init__(self, registry: CollectorRegistry, models: Iterable[str]) -> None:
        def counter(name: str, documentation: str, *labels: str) -> Counter:
            return Counter(name, documentation, labels, registry=registry)

        def seconds(
            name: str, documentation: str, buckets: tuple[float, ...], *labels: str
        ) -> Histogram:
            return Histogram(name, documentation, labels, buckets=buckets, registry=registry)

        self.requests = counter(
            "gateway_requests",
            "Requests answered, by endpoint, model and HTTP status",
            "endpoint",
            "model",
            "status",
        )
        self.errors = counter(
            "gateway_errors",
            "Requests answered with a gateway error (rejections, upstream failures), by code",
            "endpoint",
            "code",
        )
        self.first_chunk = seconds(
            "gateway_upstream_first_chunk_seconds",
            "Streamed requests: from sending upstream to its first chunk",
            UPSTREAM_BUCKETS,
            "model",
        )
        self.upstream = seconds(
            "gateway_upstream_seconds",
            "From sending upstream to the answer's last byte",
            UPSTREAM_BUCKETS,
            "model",
        )
        self.overhead = seconds(
            "gateway_overhead_seconds",
            "Time a forwarded request spends in the gateway, upstream time excluded",
            OVERHEAD_BUCKETS,
        )
        self.tokens = counter(
            "gateway_tokens", "Tokens metered, by model and kind", "model", "kind"
        )
        self.cost = counter("gateway_cost_micro_usd", "Cost metered, in micro-USD", "model")
        self.chats = counter("gateway_chats_created", "Chats started", "model")
        self.models = {name: ModelMetrics(self, name) for name in models}
        self._answered: dict[tuple[str, str, int], Counter] = {}
        self._errors: dict[tuple[str, str], Counter] = {}
        for path in FORWARDED:
            for name in self.models:
                self._child(path, name, 200)

    def timing(self, model: str, started: float) -> Timing:
        """The clock of a request to ``model`` that began at ``started`` (perf_counter)."""
        return Timing(self.models[model], self.overhead, started)

    def answered(self, path: str, model: str, status: int) -> None:
        """Count a request to ``/v1{path}`` answered with ``status``."""
        child = self._answered.get((path, model, status))
        (child or self._child(path, model, status)).inc()

    def raised(self, path: str, model: str, error: Exception) -> None:
        """Count a request that ended in ``error``: one of ours, or a bug (500)."""
        if not isinstance(error, GatewayError):
            self.answered(path, model, 500)
            return
        self.answered(path, model, error.status)
        code = error.code or error.type
        child = self._errors.get((path, code))
        if child is None:
            child = self._errors[path, code] = self.errors.labels(f"/v1{path}", code)
        child.inc()

    def recorded(self, event: EventBase) -> None:
        """Count what a metering event says: tokens, cost, a chat started."""
        if isinstance(event, RequestMetered):
            model = self.models.get(event.model)
            if model is not None:
                prompt, completion, cached = model.tokens
                prompt.inc(event.prompt_tokens)
                completion.inc(event.completion_tokens)
                cached.inc(event.cached_tokens)
                model.cost.inc(event.cost_micro_usd)
        elif isinstance(event, ChatCreated) and event.model in self.models:
            self.models[event.model].chats.inc()

    def _child(self, path: str, model: str, status: int) -> Counter:
        child = self.requests.labels(f"/v1{path}", model, str(status))
        self._answered[path, model, status] = child
        return child


class StateCollector:
    """Gauges and counters read from the gateway's state when ``/metrics`` is scraped."""

    def __init__(self) -> None:
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}
        self.counters: dict[str, tuple[str, Callable[[], float]]] = {}
        self.sequences: Mapping[str, Callable[[], int]] = {}

    def collect(self) -> Iterator[Metric]:
        """The current values (called by the registry, in the event loop's thread)."""
        for name, (documentation, read) in self.gauges.items():
            yield GaugeMetricFamily(name, documentation, value=read())
        for name, (documentation, read) in self.counters.items():
            yield CounterMetricFamily(name, documentation, value=read())
        family = GaugeMetricFamily(
            "gateway_stream_sequence", "Last stream sequence applied", labels=["stream"]
        )
        for stream, read in self.sequences.items():
            family.add_metric([stream], read())
        yield family
