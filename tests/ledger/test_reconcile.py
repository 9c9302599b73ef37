"""Reconciliation: the ledger's totals per key against the metered events in USAGE."""

from __future__ import annotations

from nats.js import JetStreamContext

from tests.ledger.conftest import ALICE, BOB, DAVE, TOKEN_A, Ledger, publish


async def test_reconciliation_matches_when_every_event_is_in_the_ledger(
    ledger: Ledger, js: JetStreamContext
) -> None:
    events = [ALICE.metered(5), BOB.metered(7), DAVE.metered(11)]
    await publish(js, events)
    await publish(js, events[:1], fresh_ids=True)  # a re-send is one request, not two

    report = (await ledger.get("/reconciliation")).json()

    assert report["matches"] is True
    assert (report["keys_compared"], report["differences"]) == (3, [])
    assert report["ledger_sequence"] == report["stream_last_sequence"] == 4


async def test_reconciliation_reports_a_key_whose_ledger_total_differs(
    ledger: Ledger, js: JetStreamContext
) -> None:
    await publish(js, [ALICE.metered(5), ALICE.metered(6), DAVE.metered(11)])
    await ledger.wait_ingested(3)
    async with ledger.pool.connection() as conn:  # a lost write, as a bug would make it
        await conn.execute(
            "UPDATE daily_usage SET cost_micro_usd = cost_micro_usd - 6 WHERE key_id = %s",
            (ALICE.key_id,),
        )

    report = (await ledger.get("/reconciliation")).json()
    scoped = (await ledger.get("/reconciliation", token=TOKEN_A)).json()

    assert report["matches"] is False
    assert report["differences"] == [
        {
            "key_id": str(ALICE.key_id),
            "key_hint": "sk-ais-…0001",
            "ledger_requests": 2,
            "stream_requests": 2,
            "ledger_cost_micro_usd": 5,
            "stream_cost_micro_usd": 11,
        }
    ]
    assert scoped["keys_compared"] == 1  # an admin of school A compares only A's keys
    assert report["stream_last_sequence"] == 3
    # Stream positions count every school's traffic: not shown to a school's administrator.
    positions = ("stream_first_sequence", "stream_last_sequence", "ledger_sequence")
    assert [scoped[p] for p in positions] == [None, None, None]
