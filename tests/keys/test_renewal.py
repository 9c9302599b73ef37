"""Renewal: one BudgetRenewed per key per boundary in the school's time zone, exactly once."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

from contracts.events import BudgetRenewed
from services.keys.adapters.catchup import Projector
from services.keys.domain.projection import ReadModel
from services.keys.usecases.renewal import renew_due
from tests.keys.conftest import Keys


async def renewals(keys: Keys) -> list[BudgetRenewed]:
    stored = await keys.ctx.projector.store.read_after(0, 100_000)
    return [s.event for s in stored if isinstance(s.event, BudgetRenewed)]


async def issue(keys: Keys, user: str, renewal: str, at: datetime) -> str:
    keys.clock.set(at)
    body = {"budget_usd": "2", "renewal": renewal}
    response = await keys.call("POST", f"/users/{user}/keys", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["key_id"])


async def test_two_replicas_renewing_at_once_append_one_event_per_key(seeded: Keys) -> None:
    await issue(seeded, "s1", "daily", datetime(2030, 3, 4, 12, tzinfo=UTC))
    # A second replica: its own read model and projector over the same event store.
    other = dataclasses.replace(
        seeded.ctx, projector=Projector(seeded.ctx.projector.store, ReadModel())
    )
    seeded.clock.set(datetime(2030, 3, 5, 9, tzinfo=UTC))
    counts = await asyncio.gather(renew_due(seeded.ctx), renew_due(other))
    assert sum(counts) == 1
    [event] = await renewals(seeded)
    # Midnight in Amsterdam (UTC+1 in March) is 23:00 UTC the day before.
    assert event.period_start == datetime(2030, 3, 4, 23, tzinfo=UTC)
    assert await renew_due(seeded.ctx) == 0


async def test_after_downtime_across_several_boundaries_a_key_renews_exactly_once(
    seeded: Keys,
) -> None:
    await issue(seeded, "s1", "weekly", datetime(2030, 3, 4, 12, tzinfo=UTC))  # a Monday
    await issue(seeded, "z2", "monthly", datetime(2030, 1, 10, 12, tzinfo=UTC))
    await issue(seeded, "t1", "none", datetime(2030, 1, 10, 12, tzinfo=UTC))
    seeded.clock.set(datetime(2030, 4, 2, 8, tzinfo=UTC))  # down for weeks

    assert await renew_due(seeded.ctx) == 2
    starts = sorted(e.period_start for e in await renewals(seeded))
    # Monday 1 April 00:00 Amsterdam (UTC+2), and 1 April 00:00 New York (UTC-4).
    assert starts == [datetime(2030, 3, 31, 22, tzinfo=UTC), datetime(2030, 4, 1, 4, tzinfo=UTC)]
    assert await renew_due(seeded.ctx) == 0


async def test_revoked_and_expired_keys_are_not_renewed(seeded: Keys) -> None:
    key = await issue(seeded, "s1", "daily", datetime(2030, 3, 4, 12, tzinfo=UTC))
    await seeded.call("POST", f"/keys/{key}/revoke", json={"reason": "done"})
    seeded.clock.set(datetime(2030, 3, 4, 12, tzinfo=UTC))
    body = {"budget_usd": "2", "renewal": "daily", "valid_until": "2030-03-04T18:00:00+00:00"}
    assert (await seeded.call("POST", "/users/s2/keys", json=body)).status_code == 201
    seeded.clock.set(datetime(2030, 3, 6, 12, tzinfo=UTC))
    assert await renew_due(seeded.ctx) == 0
