"""Request logs, kept off the request path unless an operator asks for them.

At the default level (INFO) the gateway writes no line per successful request: the metrics
count and time every request, a request the upstream refused or failed is logged at INFO,
and one successful request in ``SAMPLE_EVERY`` is logged at INFO as a sample. With
``AISCHOOL_LOG_LEVEL=DEBUG`` every request is logged, and so are uvicorn's access lines and
httpx's, which are otherwise silenced: formatting them cost more CPU than the rest of the
gateway's own work on a request (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
from uuid import UUID

import structlog

log = structlog.get_logger("services.gateway.requests")
_level = logging.getLogger("services.gateway.requests")
# A power of two: the sample is taken from the request id's (random) low bits.
SAMPLE_EVERY = 1024
NOISY = ("uvicorn.access", "httpx")


def quiet_per_request_loggers() -> None:
    """Silence uvicorn's access log and httpx's request log below DEBUG (call after the
    logging set-up, before serving)."""
    for name in NOISY:
        logger = logging.getLogger(name)
        if not logger.isEnabledFor(logging.DEBUG):
            logger.setLevel(logging.WARNING)


def request_finished(
    request_id: UUID, *, key_id: UUID, model: str, status: int, cost: int, estimated: bool
) -> None:
    """Log a metered request if it failed upstream, is a sample, or DEBUG is on."""
    if status < 400 and request_id.int % SAMPLE_EVERY and not _level.isEnabledFor(logging.DEBUG):
        return
    log.info(
        "request_metered",
        request_id=str(request_id),
        key_id=str(key_id),
        model=model,
        status=status,
        cost_micro_usd=cost,
        estimated=estimated,
    )
