"""Budget columns next to usage in the keys report, and idle keys and users listed too."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from nats.js import JetStreamContext

from contracts.events import BudgetChanged, BudgetRenewed, Renewal
from tests.ledger.conftest import BOB, Key, Ledger, publish

ERIN = Key(uuid.UUID(int=9), "erin", "school-a", "group-1a")
MONDAY = datetime(2026, 11, 16, tzinfo=UTC)  # the test schools are in UTC
PERIOD = {"from": "2026-11-01", "to": "2026-11-30"}


async def _key_row(ledger: Ledger, key: Key, ready: str) -> dict[str, Any]:
    """The key's row, once the ledger has seen the KEYS event that sets ``ready``."""
    async with asyncio.timeout(30):
        while True:
            body = (await ledger.get("/reports/keys", key_id=str(key.key_id), **PERIOD)).json()
            if body["rows"] and body["rows"][0][ready] is not None:
                return dict(body["rows"][0])
            await asyncio.sleep(0.05)


async def test_a_keys_row_has_its_budget_what_it_used_this_period_and_when_it_renews(
    ledger: Ledger, js: JetStreamContext
) -> None:
    await publish(
        js,
        [
            BudgetChanged(
                event_id=uuid.uuid4(), occurred_at=MONDAY, key_id=BOB.key_id,
                budget_micro_usd=5_000_000, renewal=Renewal.WEEKLY, changed_by="root",
            ),
            BudgetRenewed(
                event_id=uuid.uuid4(), occurred_at=MONDAY, key_id=BOB.key_id,
                period_start=MONDAY, budget_micro_usd=5_000_000,
            ),
        ],
    )  # fmt: skip
    await publish(
        js,
        [
            BOB.metered(1_000, at=datetime(2026, 11, 15, 23, 59, tzinfo=UTC)),  # last week
            BOB.metered(2_000, at=datetime(2026, 11, 17, 9, 0, tzinfo=UTC)),
        ],
    )
    await ledger.wait_ingested(2)
    row = await _key_row(ledger, BOB, "renews_at")
    assert (row["requests"], row["cost_micro_usd"]) == (2, 3_000)
    assert (row["budget_usd"], row["used_this_period_micro_usd"], row["remaining_usd"]) == (
        "5.000000",
        2_000,
        "4.998000",
    )
    assert (row["renewal"], row["period_start"], row["renews_at"]) == (
        "weekly",
        "2026-11-16T00:00:00Z",
        "2026-11-23T00:00:00Z",
    )


async def test_idle_keys_and_users_are_listed_with_zeros(
    ledger: Ledger, js: JetStreamContext
) -> None:
    await publish(js, [ERIN.issued()])
    row = await _key_row(ledger, ERIN, "budget_usd")
    assert (row["requests"], row["cost_usd"], row["remaining_usd"]) == (0, "0.000000", "10.000000")
    users = (await ledger.get("/reports/users", **PERIOD)).json()["rows"]
    assert {u["user_id"] for u in users} == {"alice", "bob", "carol", "dave", "erin"}
    keys = (await ledger.get("/reports/keys", school_id="school-a", **PERIOD)).json()["rows"]
    assert {k["user_id"] for k in keys} == {"alice", "bob", "carol", "erin"}
