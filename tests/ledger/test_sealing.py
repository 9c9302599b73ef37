"""Sealed months: reports read them from the monthly rollups, and stay exact for late requests."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from services.ledger.usecases.sealing import seal_months
from tests.ledger.conftest import ALICE, BOB, Ledger, publish

OCTOBER = datetime(2026, 10, 10, 9, tzinfo=UTC)
LATE = datetime(2026, 10, 31, 22, 30, tzinfo=UTC)  # still October in UTC (the schools' zone)


async def _unseal(ledger: Ledger) -> None:
    """Forget the seal of the ledger's start (nothing was ingested then): nothing is sealed."""
    async with ledger.pool.connection() as conn:
        await conn.execute("UPDATE rollup_seal SET sealed_before = '0001-01-01'")


async def _users(ledger: Ledger, start: str, end: str) -> dict[str, tuple[int, int, int]]:
    reply = await ledger.get("/reports/users", group_id="group-1a", **{"from": start, "to": end})
    assert reply.status_code == 200, reply.text
    return {
        r["user_id"]: (r["requests"], r["cost_micro_usd"], r["chats"]) for r in reply.json()["rows"]
    }


async def test_a_request_arriving_after_its_month_was_sealed_is_counted_once(
    ledger: Ledger,
) -> None:
    js, chat = ledger.js, uuid.uuid4()
    await _unseal(ledger)
    await publish(js, [ALICE.metered(1000, at=OCTOBER), ALICE.chat(chat, "Loops", at=OCTOBER)])
    await publish(js, [BOB.metered(30, at=datetime(2026, 11, 3, tzinfo=UTC))])
    await ledger.wait_ingested(2)
    assert await seal_months(ledger.pool, date(2027, 1, 10)) == [
        date(2026, 10, 1),
        date(2026, 11, 1),
    ]

    # A spool re-sent long after: October is sealed, so the batch adds to both rollups.
    await publish(js, [ALICE.metered(7, at=LATE, chat_id=chat), BOB.metered(5, at=LATE)])
    await ledger.wait_ingested(4)
    await ledger.consumer_settled()

    whole = await _users(ledger, "2026-10-01", "2026-11-30")  # two sealed months
    days = await _users(ledger, "2026-10-11", "2026-11-29")  # only days: no whole month
    assert whole["alice"] == (2, 1007, 1)
    assert whole["bob"] == (2, 35, 0)
    assert days["alice"] == (1, 7, 0)
    assert days["bob"] == (2, 35, 0)
    days_report = await ledger.get("/reports/days", **{"from": "2026-10-01", "to": "2026-11-30"})
    assert days_report.json()["total"]["cost_micro_usd"] == 1042


async def test_sealing_twice_changes_nothing(ledger: Ledger) -> None:
    await _unseal(ledger)
    await publish(ledger.js, [ALICE.metered(1000, at=OCTOBER)])
    await ledger.wait_ingested(1)
    await seal_months(ledger.pool, date(2027, 1, 10))
    before = await _users(ledger, "2026-10-01", "2026-10-31")

    assert await seal_months(ledger.pool, date(2027, 1, 10)) == []
    assert (
        await _users(ledger, "2026-10-01", "2026-10-31")
        == before
        == {
            "alice": (1, 1000, 0),
            "bob": (0, 0, 0),
            "erin": (0, 0, 0),
        }
    )
