"""Days in every report are the school's own: requests on both sides of local midnight in
two time zones (Amsterdam, UTC+1, and New York, UTC-5, in November)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from nats.js import JetStreamContext

from contracts.events import SchoolRecorded
from tests.ledger.conftest import (
    ALICE,
    DAVE,
    TOKEN_A,
    Ledger,
    directory_events,
    publish,
    run_ledger,
    settings_for,
)

CHAT = uuid.UUID(int=5)


def zoned(school_id: str, name: str, zone: str) -> SchoolRecorded:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    return SchoolRecorded(
        event_id=uuid.uuid4(), occurred_at=at, school_id=school_id, name=name, time_zone=zone
    )


@pytest.fixture
async def zoned_ledger(
    database_url: str, nats_url: str, js: JetStreamContext
) -> AsyncIterator[Ledger]:
    """School A in Amsterdam, school B in New York; usage around both local midnights."""
    await publish(js, directory_events())
    await publish(
        js,
        [
            zoned("school-a", "Alpha College", "Europe/Amsterdam"),
            zoned("school-b", "Beta Lyceum", "America/New_York"),
        ],
    )
    await publish(
        js,
        [
            # 23:30 in Amsterdam on the 19th, and 00:30 on the 20th (with a chat).
            ALICE.metered(1, at=datetime(2026, 11, 19, 22, 30, tzinfo=UTC)),
            ALICE.chat(CHAT, "Midnight", at=datetime(2026, 11, 19, 23, 30, tzinfo=UTC)),
            ALICE.metered(10, at=datetime(2026, 11, 19, 23, 30, tzinfo=UTC), chat_id=CHAT),
            # 22:00 in New York on the 19th, and 00:30 on the 20th.
            DAVE.metered(100, at=datetime(2026, 11, 20, 3, 0, tzinfo=UTC)),
            DAVE.metered(1000, at=datetime(2026, 11, 20, 5, 30, tzinfo=UTC)),
        ],
    )
    async with run_ledger(settings_for(database_url, nats_url), js) as running:
        await running.wait_ingested(4)
        yield running


async def test_a_day_is_each_schools_own_day_and_the_answer_says_in_which_zone(
    zoned_ledger: Ledger,
) -> None:
    days = await zoned_ledger.get("/reports/days", **{"from": "2026-11-19", "to": "2026-11-20"})
    body = days.json()
    by_day = {r["day"]: r["cost_micro_usd"] for r in body["rows"]}
    # In UTC these would be 11 and 1100.
    assert by_day == {"2026-11-19": 101, "2026-11-20": 1010}
    assert body["time_zones"] == {"school-a": "Europe/Amsterdam", "school-b": "America/New_York"}
    assert body["time_zone"] is None


async def test_each_schools_row_is_counted_and_labelled_in_its_own_zone(
    zoned_ledger: Ledger,
) -> None:
    one_day = {"from": "2026-11-20", "to": "2026-11-20"}
    schools = (await zoned_ledger.get("/reports/schools", **one_day)).json()["rows"]
    assert [(s["school_id"], s["cost_micro_usd"], s["time_zone"]) for s in schools] == [
        ("school-a", 10, "Europe/Amsterdam"),
        ("school-b", 1000, "America/New_York"),
    ]
    # The chat created at 00:30 in Amsterdam counts on the 20th there.
    users = (await zoned_ledger.get("/reports/users", user_id="alice", **one_day)).json()
    assert (users["rows"][0]["chats"], users["rows"][0]["requests"]) == (1, 1)


async def test_a_single_schools_administrator_reads_its_zone(zoned_ledger: Ledger) -> None:
    body = (await zoned_ledger.get("/reports/days", token=TOKEN_A, **{"from": "2026-11-19"})).json()
    assert (body["time_zone"], body["time_zones"]) == (
        "Europe/Amsterdam",
        {"school-a": "Europe/Amsterdam"},
    )
