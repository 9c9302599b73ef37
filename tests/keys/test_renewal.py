"""Renewal: one BudgetRenewed per key per boundary in the school's time zone, exactly once.

The use cases alone, on the in-memory event store and on PostgreSQL (``usecases`` fixture).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from contracts.events import BudgetRenewed, Renewal
from services.keys.domain.projection import ReadModel
from services.keys.usecases.keys import KeySpec, issue_key, revoke_key
from services.keys.usecases.projector import Projector
from services.keys.usecases.renewal import renew_due
from tests.keys.conftest import ROOT, UseCases


async def renewals(uc: UseCases) -> list[BudgetRenewed]:
    return [e for e in await uc.events() if isinstance(e, BudgetRenewed)]


async def issue(
    uc: UseCases, user: str, renewal: Renewal, at: datetime, until: datetime | None = None
) -> uuid.UUID:
    uc.clock.set(at)
    spec = KeySpec(Decimal("2"), renewal, None, until)
    _, key = await issue_key(uc.ctx, ROOT, user, spec, replace=False)
    return key.key_id


async def test_two_replicas_renewing_at_once_append_one_event_per_key(usecases: UseCases) -> None:
    await issue(usecases, "s1", Renewal.DAILY, datetime(2030, 3, 4, 12, tzinfo=UTC))
    # A second replica: its own read model and projector over the same event store.
    other = dataclasses.replace(
        usecases.ctx, projector=Projector(usecases.ctx.projector.store, ReadModel())
    )
    usecases.clock.set(datetime(2030, 3, 5, 9, tzinfo=UTC))
    counts = await asyncio.gather(renew_due(usecases.ctx), renew_due(other))
    assert sum(counts) == 1
    [event] = await renewals(usecases)
    # Midnight in Amsterdam (UTC+1 in March) is 23:00 UTC the day before.
    assert event.period_start == datetime(2030, 3, 4, 23, tzinfo=UTC)
    assert await renew_due(usecases.ctx) == 0


async def test_after_downtime_across_several_boundaries_a_key_renews_exactly_once(
    usecases: UseCases,
) -> None:
    await issue(usecases, "s1", Renewal.WEEKLY, datetime(2030, 3, 4, 12, tzinfo=UTC))  # a Monday
    await issue(usecases, "z2", Renewal.MONTHLY, datetime(2030, 1, 10, 12, tzinfo=UTC))
    await issue(usecases, "t1", Renewal.NONE, datetime(2030, 1, 10, 12, tzinfo=UTC))
    usecases.clock.set(datetime(2030, 4, 2, 8, tzinfo=UTC))  # down for weeks

    assert await renew_due(usecases.ctx) == 2
    starts = sorted(e.period_start for e in await renewals(usecases))
    # Monday 1 April 00:00 Amsterdam (UTC+2), and 1 April 00:00 New York (UTC-4).
    assert starts == [datetime(2030, 3, 31, 22, tzinfo=UTC), datetime(2030, 4, 1, 4, tzinfo=UTC)]
    assert await renew_due(usecases.ctx) == 0


async def test_revoked_and_expired_keys_are_not_renewed(usecases: UseCases) -> None:
    start = datetime(2030, 3, 4, 12, tzinfo=UTC)
    revoked = await issue(usecases, "s1", Renewal.DAILY, start)
    await revoke_key(usecases.ctx, ROOT, revoked, "done")
    await issue(  # expired 18:00, before the boundary
        usecases, "s2", Renewal.DAILY, start, until=datetime(2030, 3, 4, 18, tzinfo=UTC)
    )
    # A live daily key beside them: the run must renew it, or it shows nothing at all.
    live = await issue(usecases, "z2", Renewal.DAILY, start)
    usecases.clock.set(datetime(2030, 3, 6, 12, tzinfo=UTC))
    assert await renew_due(usecases.ctx) == 1
    assert [e.key_id for e in await renewals(usecases)] == [live]
