"""Budget used this period comes from RequestMetered in USAGE, counted from the period start."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from contracts.codec import encode, headers, subject
from contracts.events import RequestMetered
from contracts.streams import USAGE
from infra.lifespan import runtime_of
from services.keys.runtime import KeysRuntime
from services.keys.usecases.renewal import renew_due
from tests.fakes.events import request_metered
from tests.keys.conftest import Keys
from tests.positions import follower_caught_up


def metered(key: dict[str, str], cost: int, at: datetime) -> RequestMetered:
    return request_metered(
        key_id=uuid.UUID(key["key_id"]),
        user_id=key["user_id"],
        school_id=key["school_id"],
        group_id=key["group_id"],
        cost_micro_usd=cost,
        latency_ms=3,
        at=at,
    )


async def used(keys: Keys, key_id: str) -> str:
    """The key's budget used, once the service's USAGE follower has seen all of USAGE."""
    runtime = runtime_of(keys.app, KeysRuntime)
    await follower_caught_up(runtime.usage, runtime.js, USAGE)
    return str((await keys.call("GET", f"/keys/{key_id}")).json()["used_usd"])


async def test_budget_used_counts_metered_requests_since_the_period_start(seeded: Keys) -> None:
    start = datetime(2030, 3, 4, 12, tzinfo=UTC)
    seeded.clock.set(start)
    key = (
        await seeded.call("POST", "/users/s1/keys", json={"budget_usd": "5", "renewal": "daily"})
    ).json()
    js = seeded.app.state.runtime.js
    for cost, at in ((250_000, start + timedelta(hours=1)), (10_000, start + timedelta(hours=2))):
        event = metered(key, cost, at)
        await js.publish(subject(event), encode(event), headers=headers(event))
    assert await used(seeded, key["key_id"]) == "0.260000"

    seeded.clock.set(start + timedelta(days=1))
    await renew_due(seeded.ctx)
    assert await used(seeded, key["key_id"]) == "0.000000"
    rows = (await seeded.call("GET", "/groups/n-4a/students")).json()
    assert rows[0]["key"]["used_usd"] == "0.000000"
