"""Reports per user, key, group, school, model and day; JSON and CSV; scoped; bad input."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from nats.js import JetStreamContext

from tests.ledger.conftest import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    DAY,
    NOW,
    TOKEN_A,
    Ledger,
    publish,
)

PERIOD = {"from": "2026-11-01", "to": "2026-11-30"}
CHAT = uuid.UUID(int=77)


@pytest.fixture
async def usage(ledger: Ledger, js: JetStreamContext) -> Ledger:
    """Alice: 3 requests (2 in a chat, one a day later, another model); Bob 1; Carol 1; Dave 2."""
    await publish(
        js,
        [
            ALICE.chat(CHAT, "Why does my loop never end?"),
            ALICE.metered(1_500_000, chat_id=CHAT, prompt=100, completion=20),
            ALICE.metered(250_000, chat_id=CHAT, at=NOW + DAY, prompt=50, completion=10),
            ALICE.metered(1, model="other", at=NOW + DAY),
            BOB.metered(2_000),
            CAROL.metered(3_000),
            DAVE.metered(10_000),
            DAVE.metered(10_000, at=NOW - 30 * DAY),  # October: outside PERIOD
        ],
    )
    await ledger.wait_ingested(7)
    return ledger


async def test_users_report_of_a_group_has_requests_tokens_cost_chats_and_first_last_use(
    usage: Ledger,
) -> None:
    response = await usage.get("/reports/users", group_id="group-1a", **PERIOD)

    assert response.status_code == 200
    body = response.json()
    alice, bob, erin = body["rows"]
    assert alice == {
        "user_id": "alice",
        "user_name": "Alice Archer",
        "requests": 3,
        "input_tokens": 160,
        "output_tokens": 35,
        "cached_tokens": 0,
        "cost_usd": "1.750001",
        "cost_micro_usd": 1_750_001,
        "chats": 1,
        "first_use": "2026-11-20T10:00:00Z",
        "last_use": "2026-11-21T10:00:00Z",
    }
    assert (bob["user_name"], bob["requests"], bob["cost_usd"]) == ("Bob Baker", 1, "0.002000")
    # A member who never used a key is on the class list too, with zeros.
    assert (erin["user_name"], erin["requests"], erin["cost_usd"], erin["last_use"]) == (
        "Erin Evans",
        0,
        "0.000000",
        None,
    )
    assert body["total"]["cost_micro_usd"] == 1_752_001
    assert (body["from"], body["to"], body["by"]) == ("2026-11-01", "2026-11-30", "user")


async def test_staff_list_is_the_users_report_filtered_by_role(usage: Ledger) -> None:
    response = await usage.get("/reports/users", school_id="school-a", role="staff", **PERIOD)

    assert [r["user_name"] for r in response.json()["rows"]] == ["Carol Cook"]


async def test_group_school_model_and_key_reports_sum_the_same_usage(usage: Ledger) -> None:
    groups = (await usage.get("/reports/groups", **PERIOD)).json()["rows"]
    schools = (await usage.get("/reports/schools", **PERIOD)).json()["rows"]
    models = (await usage.get("/reports/models", school_id="school-a", **PERIOD)).json()["rows"]
    keys = (await usage.get("/reports/keys", user_id="alice", **PERIOD)).json()["rows"]

    assert [(g["group_name"], g["school_name"], g["requests"]) for g in groups] == [
        ("Class 1A", "Alpha College", 4),
        ("Class 1B", "Beta Lyceum", 1),
    ]
    assert [(s["school_name"], s["cost_micro_usd"]) for s in schools] == [
        ("Alpha College", 1_755_001),
        ("Beta Lyceum", 10_000),
    ]
    assert [(m["model"], m["requests"]) for m in models] == [("gpt-test", 4), ("other", 1)]
    assert [(k["key_id"], k["key_hint"], k["group_name"]) for k in keys] == [
        (str(ALICE.key_id), "sk-ais-…0001", "Class 1A")
    ]


async def test_days_report_is_a_time_series_of_the_period(usage: Ledger) -> None:
    days = (await usage.get("/reports/days", user_id="alice", **PERIOD)).json()["rows"]
    all_days = await usage.get("/reports/days", school_id="school-b", **{"from": "2026-10-01"})

    assert [(d["day"], d["requests"], d["cost_micro_usd"]) for d in days] == [
        ("2026-11-20", 1, 1_500_000),
        ("2026-11-21", 2, 250_001),
    ]
    assert [d["day"] for d in all_days.json()["rows"]] == ["2026-10-21", "2026-11-20"]


async def test_reports_are_csv_with_names_when_asked(usage: Ledger) -> None:
    response = await usage.get("/reports/keys", accept="text/csv", school_id="school-a", **PERIOD)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["user_name"], r["school_name"], r["group_name"], r["cost_usd"]) for r in rows] == [
        ("Alice Archer", "Alpha College", "Class 1A", "1.750001"),
        ("Bob Baker", "Alpha College", "Class 1A", "0.002000"),
        ("Carol Cook", "Alpha College", "", "0.003000"),
    ]


async def test_a_keys_chats_and_a_chats_requests(usage: Ledger) -> None:
    chats = (await usage.get(f"/keys/{ALICE.key_id}/chats")).json()
    requests = await usage.get(f"/chats/{CHAT}/requests")
    as_csv = await usage.get(f"/keys/{ALICE.key_id}/chats", accept="text/csv")

    assert [(c["title"], c["model"], c["requests"], c["cost_usd"]) for c in chats] == [
        ("Why does my loop never end?", "gpt-test", 2, "1.750000")
    ]
    assert (chats[0]["first_activity"], chats[0]["last_activity"]) == (
        "2026-11-20T10:00:00Z",
        "2026-11-21T10:00:00Z",
    )
    assert [r["cost_micro_usd"] for r in requests.json()] == [1_500_000, 250_000]
    assert "Why does my loop never end?,gpt-test,alice,Alice Archer" in as_csv.text


SCOPE_PROBES = [
    "/reports/users?group_id=group-1b",
    "/reports/users?user_id=dave",
    "/reports/days?school_id=school-b",
    f"/reports/keys?key_id={DAVE.key_id}",
    "/reports/user-models?user_id=dave",
    "/reports/group-days?group_id=group-1b",
    f"/keys/{DAVE.key_id}/chats",
    "/requests?school_id=school-b",
    f"/requests?key_id={DAVE.key_id}",
    "/series?group_id=group-1b",
    "/series?user_id=dave",
]
# Read by the tests of their own files (a chat of school B), or for all-schools administrators
# only (dead letters: 403 to a school's administrator, tests/ledger/test_outages.py).
PROBED_ELSEWHERE = {"/chats/{chat_id}/requests", "/reconciliation", "/dead-letters"}


@pytest.mark.parametrize("path", SCOPE_PROBES)
async def test_an_admin_of_school_a_gets_404_for_school_bs_group_user_school_and_key(
    usage: Ledger, path: str
) -> None:
    response = await usage.get(path, token=TOKEN_A)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_every_ledger_endpoint_has_a_scope_probe(usage: Ledger) -> None:
    paths = (await usage.client.get("/openapi.json")).json()["paths"]
    ours = {p for p in paths if p not in ("/healthz", "/readyz", "/metrics")}
    probed = {p.split("?")[0] for p in SCOPE_PROBES} | PROBED_ELSEWHERE
    probed = {p.replace(str(DAVE.key_id), "{key_id}") for p in probed}
    reports = {p for p in probed if p.startswith("/reports/")}
    assert reports and "/reports/{by}" in ours
    assert ours - {"/reports/{by}"} <= probed, ours - probed


async def test_an_admin_of_school_a_sees_only_school_a_in_unfiltered_reports(
    usage: Ledger,
) -> None:
    schools = (await usage.get("/reports/schools", token=TOKEN_A, **PERIOD)).json()["rows"]

    assert [s["school_id"] for s in schools] == ["school-a"]


async def test_a_chat_of_another_school_is_not_found(usage: Ledger, js: JetStreamContext) -> None:
    chat = uuid.uuid4()
    await publish(js, [DAVE.chat(chat, "Secret"), DAVE.metered(1, chat_id=chat)])
    await usage.wait_ingested(8)

    assert (await usage.get(f"/chats/{chat}/requests", token=TOKEN_A)).status_code == 404
    assert (await usage.get(f"/chats/{chat}/requests")).status_code == 200


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/reports/users?from=2026-11-10&to=2026-11-01", 422, "to"),
        ("/reports/users?from=2026-13-01", 422, "query.from"),
        ("/reports/users?to=yesterday", 422, "query.to"),
        ("/reports/users?group_id=no-such-group", 404, "group_id"),
        ("/reports/users?school_id=no-such-school", 404, "school_id"),
        ("/reports/keys?key_id=not-a-uuid", 422, "query.key_id"),
        (f"/reports/keys?key_id={uuid.UUID(int=99)}", 404, "key_id"),
        ("/reports/schools?role=staff", 422, "role"),
        ("/reports/colours", 422, "path.by"),
        (f"/chats/{uuid.UUID(int=98)}/requests", 404, "chat_id"),
        ("/keys/x/chats?limit=0", 422, "path.key_id"),
    ],
)
async def test_bad_parameters_get_a_precise_problem(
    usage: Ledger, path: str, status: int, field: str
) -> None:
    response = await usage.client.get(path, headers={"Authorization": f"Bearer {TOKEN_A}"})

    assert response.status_code == status
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["status"] == status
    assert field in [e["field"] for e in problem["errors"]]


async def test_reports_need_a_valid_administrator_token(usage: Ledger) -> None:
    assert (await usage.client.get("/reports/users")).status_code == 401
    assert (await usage.get("/reports/users", token="ais-admin-wrong")).status_code == 401
