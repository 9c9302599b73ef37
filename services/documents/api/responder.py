"""Answers render requests on core NATS: PDF bytes, or a UTF-8 error message without a key."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram

from contracts.documents import STATUS_ERROR, STATUS_HEADER, STATUS_OK, KeySheetRequest
from services.documents.domain.parsing import DocumentKind, parse_request
from services.documents.errors import DocumentsError

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Reply:
    """What goes back to the requester: a body and its status header."""

    body: bytes
    headers: dict[str, str]


class RenderMetrics:
    """Counts and durations of renders, by document kind and outcome (never their content)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.total = Counter(
            "documents_renders", "Render requests answered", ["kind", "status"], registry=registry
        )
        self.seconds = Histogram(
            "documents_render_seconds",
            "Time to render one document",
            ["kind"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=registry,
        )


class Render(Protocol):
    """Renders a whole document off the event loop."""

    async def pdf(self, request: KeySheetRequest, kind: DocumentKind) -> bytes:
        """The document's PDF bytes."""
        ...


class Responder:
    """Parses a request, has it rendered off the event loop and builds the reply."""

    def __init__(self, render: Render, metrics: RenderMetrics) -> None:
        self._render_pdf = render
        self._metrics = metrics

    async def answer(self, data: bytes, kind: DocumentKind) -> Reply:
        """The reply for one request; every failure becomes an error reply, never a raise."""
        started = time.perf_counter()
        try:
            pdf = await self._render(data, kind)
        except DocumentsError as exc:
            return self._error(kind, str(exc), "rejected")
        except Exception as exc:  # a bug in rendering must still answer the caller
            # Only the exception's class: its message or traceback could quote the page.
            log.error("render_failed", kind=kind.value, error=type(exc).__name__)
            return self._error(kind, "the document could not be rendered", "failed")
        elapsed = time.perf_counter() - started
        self._metrics.total.labels(kind.value, "ok").inc()
        self._metrics.seconds.labels(kind.value).observe(elapsed)
        log.info("rendered", kind=kind.value, pdf_bytes=len(pdf), seconds=round(elapsed, 3))
        return Reply(pdf, {STATUS_HEADER: STATUS_OK})

    async def _render(self, data: bytes, kind: DocumentKind) -> bytes:
        return await self._render_pdf.pdf(parse_request(data, kind), kind)

    def _error(self, kind: DocumentKind, message: str, status: str) -> Reply:
        self._metrics.total.labels(kind.value, status).inc()
        log.warning("render_refused", kind=kind.value, reason=message)
        return Reply(message.encode("utf-8"), {STATUS_HEADER: STATUS_ERROR})
