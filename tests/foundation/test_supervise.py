"""A supervised background task that fails is logged, marked unhealthy and run again."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from infra.observability import Readiness
from infra.supervise import Backoff, supervise


async def test_a_failing_task_is_logged_unready_and_retried_with_growing_delays() -> None:
    healthy, attempts, seen_ready = asyncio.Event(), [], []
    readiness = Readiness()
    watcher = readiness.watch("worker", healthy)

    async def run() -> None:
        attempts.append(asyncio.get_running_loop().time())
        seen_ready.append(readiness.ready)
        if len(attempts) < 4:
            healthy.set()  # caught up ... then the database goes away
            raise OSError("connection refused")

    with capture_logs() as logs:
        await supervise("worker", run, healthy=healthy, backoff=Backoff(0.01, 0.04))
    watcher.cancel()

    failures = [e for e in logs if e["event"] == "background_task_failed"]
    assert [(e["task"], e["failures"], e["retry_in"]) for e in failures] == [
        ("worker", 1, 0.01),
        ("worker", 2, 0.02),
        ("worker", 3, 0.04),
    ]
    assert [e["exc_info"] for e in failures] == [True, False, False]  # one traceback a run
    assert seen_ready == [False, False, False, False]  # red from each failure until caught up
    assert not healthy.is_set() and readiness.pending == ["worker"]
