"""Background tasks that outlive their dependencies: retry with backoff, log, readiness red.

A service's background loops (relay, projections, consumers, schedules) must never end
silently: an unhandled error in an ``asyncio`` task is only reported when the task is
garbage-collected, so a relay that died on a PostgreSQL restart looked healthy for ever.
``supervise`` runs a loop again after every failure, logs each failure, and clears the
loop's ``healthy`` event (which ``Readiness.watch`` turns into a red ``/readyz``) until the
loop sets it again once it has caught up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger(__name__)

# A loop that ran this long before failing starts its backoff over: it was working.
STABLE_SECONDS = 30.0


@dataclass
class Backoff:
    """Exponential delays from ``initial`` to ``maximum``; ``reset`` after a success."""

    initial: float = 0.1
    maximum: float = 5.0
    _next: float = field(default=0.0, init=False)

    def next(self) -> float:
        """The delay to wait now; the following one doubles, up to ``maximum``."""
        delay = self._next or self.initial
        self._next = min(delay * 2, self.maximum)
        return delay

    def reset(self) -> None:
        """Start again from ``initial``."""
        self._next = 0.0


async def supervise(
    name: str,
    run: Callable[[], Awaitable[None]],
    *,
    healthy: asyncio.Event | None = None,
    backoff: Backoff | None = None,
) -> None:
    """Run ``run()`` until it returns; after each error log it, clear ``healthy``, wait, retry."""
    delays = backoff or Backoff()
    failures = 0
    while True:
        started = time.monotonic()
        try:
            await run()
            return
        except Exception as exc:  # every failure is logged and retried
            if healthy is not None:
                healthy.clear()
            if time.monotonic() - started > STABLE_SECONDS:
                delays.reset()
                failures = 0
            failures += 1
            delay = delays.next()
            # The first failure of a run of them carries the traceback; repeats stay short.
            log.error(
                "background_task_failed",
                task=name,
                error=type(exc).__name__,
                detail=str(exc)[:300],
                failures=failures,
                retry_in=delay,
                exc_info=failures == 1,
            )
        await asyncio.sleep(delay)


def start(
    name: str,
    run: Callable[[], Awaitable[None]],
    *,
    healthy: asyncio.Event | None = None,
    backoff: Backoff | None = None,
) -> asyncio.Task[None]:
    """``supervise(...)`` as a named task (keep it; cancel it at shutdown)."""
    return asyncio.create_task(supervise(name, run, healthy=healthy, backoff=backoff), name=name)
