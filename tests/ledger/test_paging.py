"""List reports: sorting, paging with a total over every row, breakdowns, CSV total row."""

from __future__ import annotations

import csv
import io

import pytest
from nats.js import JetStreamContext

from tests.ledger.conftest import ALICE, BOB, CAROL, DAVE, DAY, NOW, Ledger, publish

PERIOD = {"from": "2026-11-01", "to": "2026-11-30"}


@pytest.fixture
async def used(ledger: Ledger, js: JetStreamContext) -> Ledger:
    """Alice 3 requests (two models, two days), Bob 1 (the dearest), Carol 1, Dave 2."""
    await publish(
        js,
        [
            ALICE.metered(100),
            ALICE.metered(200, at=NOW + DAY),
            ALICE.metered(300, model="other", at=NOW + DAY),
            BOB.metered(5_000, at=NOW + 2 * DAY),
            CAROL.metered(50),
            DAVE.metered(1_000),
            DAVE.metered(1_000, at=NOW + DAY),
        ],
    )
    await ledger.wait_ingested(7)
    return ledger


async def test_a_list_report_sorts_by_cost_and_pages_with_the_total_of_every_row(
    used: Ledger,
) -> None:
    first = (await used.get("/reports/users", sort="cost", limit=2, **PERIOD)).json()
    second = (await used.get("/reports/users", sort="cost", limit=2, offset=2, **PERIOD)).json()
    assert [r["user_id"] for r in first["rows"] + second["rows"]] == [
        "bob",
        "dave",
        "alice",
        "carol",
    ]
    assert (first["count"], first["total"]["cost_micro_usd"]) == (5, 7_650)  # Erin: idle
    assert second["total"] == first["total"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"sort": "requests"}, ["alice", "dave", "bob", "carol", "erin"]),
        ({"sort": "last_use", "order": "asc"}, ["carol", "alice", "dave", "bob", "erin"]),
        ({"sort": "name"}, ["alice", "bob", "carol", "dave", "erin"]),
        ({"sort": "name", "order": "desc"}, ["erin", "dave", "carol", "bob", "alice"]),
    ],
)
async def test_a_list_report_sorts_by_requests_last_use_and_name(
    used: Ledger, params: dict[str, str], expected: list[str]
) -> None:
    body = (await used.get("/reports/users", **params, **PERIOD)).json()
    assert [r["user_id"] for r in body["rows"]] == expected


async def test_breakdowns_by_user_and_model_and_by_group_and_day(used: Ledger) -> None:
    models = (await used.get("/reports/user-models", user_id="alice", **PERIOD)).json()
    assert [(r["user_name"], r["model"], r["requests"]) for r in models["rows"]] == [
        ("Alice Archer", "gpt-test", 2),
        ("Alice Archer", "other", 1),
    ]
    days = (await used.get("/reports/group-days", group_id="group-1a", **PERIOD)).json()
    assert [(r["group_name"], r["day"], r["cost_micro_usd"]) for r in days["rows"]] == [
        ("Class 1A", "2026-11-20", 100),
        ("Class 1A", "2026-11-21", 500),
        ("Class 1A", "2026-11-22", 5_000),
    ]


async def test_a_csv_report_ends_with_a_total_row_on_request(used: Ledger) -> None:
    response = await used.get(
        "/reports/schools", accept="text/csv", total_row="true", csv_dialect="excel", **PERIOD
    )
    text = response.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["school_id"] for r in rows] == ["school-a", "school-b", "total"]
    assert rows[-1]["cost_micro_usd"] == "7650" and rows[-1]["cost_usd"] == "0.007650"
