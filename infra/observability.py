"""Structured logs, Prometheus metrics and the /healthz, /readyz, /metrics endpoints."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable

import structlog
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


def configure_logging(level: str = "INFO") -> None:
    """JSON log lines on stderr for our code and for uvicorn alike."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class Readiness:
    """Named conditions that must all hold before a service says it is ready.

    A watched event or a check counts while it holds, not once: a background task that
    loses its database clears its event, and ``/readyz`` is red until it is set again.
    """

    def __init__(self, *conditions: str) -> None:
        self._pending = set(conditions)
        self._events: dict[str, asyncio.Event] = {}
        self._checks: dict[str, Callable[[], bool]] = {}

    def done(self, condition: str) -> None:
        """Mark a condition as met."""
        self._pending.discard(condition)

    def undo(self, condition: str) -> None:
        """Mark a condition as not met again (e.g. a lost connection)."""
        self._pending.add(condition)

    def watch(self, condition: str, event: asyncio.Event) -> asyncio.Task[None]:
        """``condition`` holds while ``event`` is set (keep the task until shutdown)."""
        self._events[condition] = event

        async def wait() -> None:
            await event.wait()
            self.done(condition)

        return asyncio.create_task(wait(), name=f"ready:{condition}")

    def check(self, condition: str, holds: Callable[[], bool]) -> None:
        """``condition`` holds while ``holds()`` is true (e.g. a connection is up)."""
        self._checks[condition] = holds

    @property
    def ready(self) -> bool:
        return not self.pending

    @property
    def pending(self) -> list[str]:
        waiting = set(self._pending)
        waiting.update(name for name, event in self._events.items() if not event.is_set())
        waiting.update(name for name, holds in self._checks.items() if not holds())
        return sorted(waiting)


def health_router(readiness: Readiness, registry: CollectorRegistry) -> APIRouter:
    """``/healthz`` (alive), ``/readyz`` (projections caught up), ``/metrics`` (Prometheus)."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        if readiness.ready:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "starting", "waiting_for": readiness.pending}, 503)

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
