"""The per-request log (cursor paging, filters, CSV) and time series (zero days, hours)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from typing import Any

import pytest
from nats.js import JetStreamContext

from contracts.events import RequestMetered
from tests.ledger.conftest import ALICE, BOB, CAROL, DAVE, NOW, TOKEN_A, Ledger, publish

CHAT = uuid.UUID(int=88)
DAVES_CHAT = uuid.UUID(int=89)
MINUTE = timedelta(minutes=1)
DAYS = {"from": "2026-11-18", "to": "2026-11-22"}


def failed(event: RequestMetered) -> RequestMetered:
    return event.model_copy(update={"status": 502, "completion_tokens": 0})


@pytest.fixture
async def activity(ledger: Ledger, js: JetStreamContext) -> Ledger:
    """Alice: 5 requests a minute apart (2 in a chat, 1 failed, 1 of model 'other'); Bob 1,
    Carol (staff) 1, Dave (school B) 1 in a chat of his; all on 20 November (UTC)."""
    await publish(
        js,
        [
            ALICE.chat(CHAT, "Loops"),
            ALICE.metered(100, at=NOW, chat_id=CHAT),
            ALICE.metered(200, at=NOW + MINUTE, chat_id=CHAT),
            failed(ALICE.metered(0, at=NOW + 2 * MINUTE)),
            ALICE.metered(400, at=NOW + 3 * MINUTE, model="other"),
            ALICE.metered(500, at=NOW + 4 * MINUTE),
            BOB.metered(1_000, at=NOW + 5 * MINUTE),
            CAROL.metered(2_000, at=NOW + 6 * MINUTE),
            DAVE.chat(DAVES_CHAT, "Secret"),
            DAVE.metered(4_000, at=NOW + 7 * MINUTE, chat_id=DAVES_CHAT),
        ],
    )
    await ledger.wait_ingested(8)
    return ledger


async def test_the_request_log_pages_newest_first_by_cursor_without_gaps_or_repeats(
    activity: Ledger,
) -> None:
    seen: list[dict[str, object]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3, **DAYS} | ({"cursor": cursor} if cursor else {})
        body = (await activity.get("/requests", **params)).json()
        seen += body["rows"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    costs = [r["cost_micro_usd"] for r in seen]
    assert pages == 3 and costs == [4_000, 2_000, 1_000, 500, 400, 0, 200, 100]
    newest = seen[0]
    assert (newest["user_name"], newest["school_name"], newest["chat_id"]) == (
        "Dave Dyer",
        "Beta Lyceum",
        str(DAVES_CHAT),
    )
    assert newest["key_hint"] == f"sk-ais-…{str(DAVE.key_id)[-4:]}"
    assert (newest["cost_usd"], newest["time_zone"], newest["day"]) == (
        "0.004000",
        "UTC",
        "2026-11-20",
    )
    staff = seen[1]
    assert (staff["user_id"], staff["group_id"], staff["group_name"]) == ("carol", None, None)


@pytest.mark.parametrize(
    ("filters", "costs"),
    [
        ({"model": "other"}, [400]),
        ({"status": 502}, [0]),
        ({"chat_id": str(CHAT)}, [200, 100]),
        ({"user_id": "bob"}, [1_000]),
        ({"key_id": str(CAROL.key_id)}, [2_000]),
        ({"group_id": "group-1a", "model": "gpt-test"}, [1_000, 500, 0, 200, 100]),
        ({"school_id": "school-b"}, [4_000]),
        ({"from": "2026-11-21", "to": "2026-11-22"}, []),
    ],
)
async def test_the_request_log_filters_by_each_dimension(
    activity: Ledger, filters: dict[str, Any], costs: list[int]
) -> None:
    body = (await activity.get("/requests", **(DAYS | filters))).json()
    assert [r["cost_micro_usd"] for r in body["rows"]] == costs


async def test_the_request_log_as_csv_is_the_same_rows_and_excel_nl_opens_in_dutch_excel(
    activity: Ledger,
) -> None:
    rows = (await activity.get("/requests", **DAYS)).json()["rows"]
    plain = await activity.get("/requests", accept="text/csv", **DAYS)
    table = list(csv.DictReader(io.StringIO(plain.text)))
    assert [r["request_id"] for r in table] == [r["request_id"] for r in rows]
    assert [r["cost_usd"] for r in table] == [r["cost_usd"] for r in rows]

    dutch = await activity.get("/requests", accept="text/csv", csv_dialect="excel-nl", **DAYS)
    text = dutch.content.decode("utf-8")
    assert text.startswith("\ufeffrequest_id;at;")
    first = next(csv.DictReader(io.StringIO(text[1:]), delimiter=";"))
    assert first["cost_usd"] == "0,004000"


async def test_accept_q_values_choose_between_json_and_csv(activity: Ledger) -> None:
    json_first = await activity.get("/reports/users", accept="text/csv;q=0.5, application/json")
    csv_first = await activity.get("/reports/users", accept="application/json;q=0.1, text/csv")
    assert json_first.headers["content-type"] == "application/json"
    assert csv_first.headers["content-type"].startswith("text/csv")


async def test_the_daily_series_has_every_day_of_the_period_with_zeros(activity: Ledger) -> None:
    body = (await activity.get("/series", **DAYS)).json()
    assert [(p["day"], p["requests"], p["cost_micro_usd"]) for p in body["points"]] == [
        ("2026-11-18", 0, 0),
        ("2026-11-19", 0, 0),
        ("2026-11-20", 8, 8_200),
        ("2026-11-21", 0, 0),
        ("2026-11-22", 0, 0),
    ]
    assert (body["total"]["cost_usd"], body["interval"]) == ("0.008200", "day")
    failed_only = (await activity.get("/series", status=502, **DAYS)).json()
    assert [p["requests"] for p in failed_only["points"]] == [0, 0, 1, 0, 0]


async def test_the_hourly_series_has_24_local_hours_a_day(activity: Ledger) -> None:
    one_day = {"from": "2026-11-20", "to": "2026-11-20"}
    body = (await activity.get("/series", interval="hour", user_id="alice", **one_day)).json()
    points = body["points"]
    assert len(points) == 24 and points[10]["hour"] == "2026-11-20T10:00:00"
    assert [p["requests"] for p in points if p["requests"]] == [5]
    month = {"from": "2026-10-01", "to": "2026-11-20"}
    too_long = await activity.get("/series", interval="hour", **month)
    assert too_long.status_code == 422


@pytest.mark.parametrize(
    "path",
    [
        "/requests?school_id=school-b",
        "/requests?group_id=group-1b",
        f"/requests?chat_id={DAVES_CHAT}",
        f"/series?key_id={DAVE.key_id}",
        "/series?user_id=dave",
    ],
)
async def test_an_admin_of_school_a_gets_404_for_school_bs_activity(
    activity: Ledger, path: str
) -> None:
    response = await activity.get(path, token=TOKEN_A)
    assert response.status_code == 404


async def test_an_admin_of_school_a_sees_only_school_as_requests_and_series(
    activity: Ledger,
) -> None:
    log = (await activity.get("/requests", token=TOKEN_A, **DAYS)).json()
    series = (await activity.get("/series", token=TOKEN_A, **DAYS)).json()
    assert {r["school_id"] for r in log["rows"]} == {"school-a"}
    assert series["total"]["cost_micro_usd"] == 4_200
    assert log["time_zones"] == {"school-a": "UTC"}


@pytest.mark.parametrize(
    ("path", "token", "status", "field"),
    [
        ("/reports/users?colour=blue", TOKEN_A, 422, "query.colour"),
        ("/requests?sort=cost", TOKEN_A, 422, "query.sort"),
        ("/reports/users?model=%00", TOKEN_A, 422, "query.model"),
        ("/requests?group_id=a%00b", TOKEN_A, 422, "query.group_id"),
        ("/reports/users?group_id=no-such-group", None, 404, "group_id"),
        ("/requests?cursor=bm90LWEtY3Vyc29y", TOKEN_A, 422, "query.cursor"),
    ],
)
async def test_unknown_parameters_nul_bytes_and_unknown_groups_get_a_precise_problem(
    activity: Ledger, path: str, token: str | None, status: int, field: str
) -> None:
    response = await (activity.get(path, token=token) if token else activity.get(path))
    assert response.status_code == status
    assert field in [e["field"] for e in response.json()["errors"]]
