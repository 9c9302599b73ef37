"""The renewal schedule: one ``BudgetRenewed`` per key per period boundary, exactly once.

Exactly once across replicas and restarts comes from two places: the domain decides nothing
when the key's period already starts at or after the boundary, and the event store's
optimistic concurrency lets only one of two racing replicas append. After downtime a run
renews each key once, for the latest boundary it missed (missed periods in between have no
spend to reset, so one renewal is all that matters).
"""

from __future__ import annotations

import asyncio
import uuid
from zoneinfo import ZoneInfo

import psycopg
import structlog

from contracts.periods import period_start
from services.keys.domain.keys import RenewBudget, decide
from services.keys.usecases.context import Context, key_appends, school_time_zone
from services.keys.usecases.ports import ConcurrencyError

log = structlog.get_logger(__name__)


async def renew_due(ctx: Context) -> int:
    """Renew every key whose latest boundary has passed; return how many were renewed."""
    await ctx.projector.catch_up()
    renewed = 0
    for key_id in list(ctx.model.keys):
        renewed += await _renew_one(ctx, key_id)
    return renewed


async def _renew_one(ctx: Context, key_id: uuid.UUID) -> int:
    for _ in range(3):
        state, now = ctx.model.keys[key_id], ctx.clock()
        zone = ZoneInfo(school_time_zone(ctx.model, state.school_id))
        boundary = period_start(state.renewal, now, zone)
        if boundary is None:
            return 0
        events = decide(state, RenewBudget(boundary), now, ctx.new_id)
        if not events:
            return 0
        try:
            await ctx.projector.store.append(*key_appends(ctx.model, events))
        except ConcurrencyError:
            # Another replica (or an administrator) wrote first: look again.
            await ctx.projector.catch_up()
            continue
        await ctx.projector.catch_up()
        return 1
    return 0


async def run_schedule(ctx: Context, interval_seconds: float = 30.0) -> None:
    """Check for due renewals now and every ``interval_seconds``."""
    while True:
        try:
            renewed = await renew_due(ctx)
        except (psycopg.Error, OSError) as exc:
            # The database is away: the next run catches up (renewal is idempotent).
            log.warning("renewal_run_failed", error=type(exc).__name__)
        else:
            if renewed:
                log.info("budgets_renewed", count=renewed)
        await asyncio.sleep(interval_seconds)
