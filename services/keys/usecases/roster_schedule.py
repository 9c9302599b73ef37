"""The roster schedule: dated memberships begin and end on time, without an administrator.

Each run appends ``StudentEnrolled`` for students whose roster dates began and
``StudentUnenrolled`` (and ``KeyRevoked`` for that group's key, reason ``roster: ...``) for
those whose dates ended. Exactly once across replicas: a run decides from the caught-up read
model and appends at the streams' expected versions, so of two racing replicas one wins and
the other, after catching up, finds nothing left to do.
"""

from __future__ import annotations

import asyncio

import psycopg
import structlog

from services.keys.domain import roster_rules
from services.keys.domain.directory_diff import Diff
from services.keys.usecases.context import Context, with_retries
from services.keys.usecases.imports import Revoked, append_chunks, ended_keys, revocations

log = structlog.get_logger(__name__)
SCHEDULE = "roster-schedule"  # revoked_by of keys the schedule revokes


async def apply_roster_dates(ctx: Context) -> tuple[int, list[Revoked]]:
    """Apply memberships due by now; return how many changed and the keys revoked."""

    async def attempt() -> tuple[int, list[Revoked]]:
        changes = Diff()
        roster_rules.due_memberships(ctx.model.directory, ctx.clock(), changes, ctx.new_id)
        revoked = ended_keys(ctx, changes)
        events = changes.events + revocations(ctx, revoked, SCHEDULE)
        if events:
            await append_chunks(ctx, events, None)
        return len(changes.events), revoked

    return await with_retries(ctx, attempt)


def _pause(ctx: Context, interval_seconds: float) -> float:
    # Wake at the next begin or end, so a membership ends at its moment rather than up to an
    # interval later; the interval still bounds the wait (an import may add earlier dates).
    now = ctx.clock()
    due = roster_rules.next_bound(ctx.model.directory, now)
    if due is None:
        return interval_seconds
    return min(interval_seconds, max((due - now).total_seconds(), 0.0) + 0.01)


async def run_roster_schedule(ctx: Context, interval_seconds: float = 30.0) -> None:
    """Apply due memberships now, at each next begin or end, and every ``interval_seconds``."""
    while True:
        try:
            changed, revoked = await apply_roster_dates(ctx)
        except (psycopg.Error, OSError) as exc:
            # The database is away: the next run catches up (the decision is idempotent).
            log.warning("roster_schedule_failed", error=type(exc).__name__)
        else:
            if changed:
                log.info("roster_memberships_applied", changed=changed, revoked=len(revoked))
        await asyncio.sleep(_pause(ctx, interval_seconds))
