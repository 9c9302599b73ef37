"""Creating, editing, revoking one key, and reading its history, through the HTTP API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from contracts.apikeys import is_well_formed
from tests.keys.conftest import Keys, in_days


async def create(keys: Keys, user: str = "s1", **body: object):
    return await keys.call("POST", f"/users/{user}/keys", json={"budget_usd": "10.00", **body})


async def test_created_key_is_returned_once_in_plaintext_and_never_again(seeded: Keys) -> None:
    response = await create(seeded, renewal="weekly")
    assert response.status_code == 201, response.text
    body = response.json()
    assert is_well_formed(body["key"])
    assert body["key_hint"].endswith(body["key"][-4:])
    assert body["status"] == "active" and body["budget_usd"] == "10.000000"
    later = [
        await seeded.call("GET", f"/keys/{body['key_id']}"),
        await seeded.call("GET", f"/keys/{body['key_id']}/history"),
        await seeded.call("GET", "/groups/n-4a/students"),
    ]
    for reply in later:
        assert reply.status_code == 200
        assert body["key"] not in reply.text


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        (0, "must be more than 0"),
        (-1, "must be more than 0"),
        ("NaN", 'budget_usd: must be US dollars in plain digits such as "25.00"'),
        (" 5", "no spaces or exponent"),
        ("1e3", "no spaces or exponent"),
        (True, "must be US dollars written as a string"),
        (1e12, "budget_usd: must be US dollars with at most 12 digits"),
        ("9" * 300, "budget_usd: must be US dollars with at most 12 digits"),
        (1000.5, "may be at most $1,000.00, not 1000.5"),
        ("1000.01", "may be at most $1,000.00"),
        ("1.234", "must be whole cents"),
    ],
)
async def test_bad_budget_is_rejected_precisely_and_changes_nothing(
    seeded: Keys, budget: object, message: str
) -> None:
    before = await seeded.event_count()
    response = await seeded.call("POST", "/users/s1/keys", json={"budget_usd": budget})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert message in response.json()["detail"]
    assert "999999999999" not in response.text, "a long number is never echoed back"
    assert await seeded.event_count() == before


async def test_window_end_before_start_or_in_the_past_is_rejected(seeded: Keys) -> None:
    before = await seeded.event_count()
    reversed_window = await create(seeded, valid_from=in_days(3), valid_until=in_days(2))
    past = await create(seeded, valid_until=in_days(-1))
    assert reversed_window.status_code == 422
    assert "must be after valid_from" in reversed_window.json()["detail"]
    assert past.status_code == 422
    assert "is in the past" in past.json()["detail"]
    assert await seeded.event_count() == before


async def test_a_time_without_offset_is_the_schools_local_time(seeded: Keys) -> None:
    response = await create(
        seeded, valid_from="2030-01-15T08:00:00", valid_until="2030-06-01T17:00"
    )
    assert response.status_code == 201, response.text
    start = datetime.fromisoformat(response.json()["valid_from"])
    expected = datetime(2030, 1, 15, 8, tzinfo=ZoneInfo("Europe/Amsterdam"))
    assert start == expected and start.utcoffset() is not None
    assert response.json()["status"] == "not_yet_valid"


async def test_an_unlinked_user_cannot_get_a_key(seeded: Keys) -> None:
    response = await create(seeded, user="t2")
    assert response.status_code == 409
    assert "no linked account" in response.json()["detail"]


async def test_a_second_active_key_is_refused_unless_replace_which_revokes_the_first(
    seeded: Keys,
) -> None:
    first = (await create(seeded)).json()
    second = await create(seeded)
    assert second.status_code == 409
    assert "already has an active key" in second.json()["detail"]

    replaced = await create(seeded, replace=True)
    assert replaced.status_code == 201
    old = (await seeded.call("GET", f"/keys/{first['key_id']}")).json()
    assert old["status"] == "revoked"
    history = (await seeded.call("GET", f"/keys/{first['key_id']}/history")).json()
    revoked = history[-1]
    assert revoked["type"] == "KeyRevoked"
    assert replaced.json()["key_id"] in revoked["data"]["reason"]
    new_history = (await seeded.call("GET", f"/keys/{replaced.json()['key_id']}/history")).json()
    assert new_history[0]["position"] == revoked["position"] + 1  # one append, one transaction


async def test_budget_renewal_and_window_can_be_edited(seeded: Keys) -> None:
    key = (await create(seeded)).json()
    until = in_days(30)
    response = await seeded.call(
        "PATCH",
        f"/keys/{key['key_id']}",
        json={"budget_usd": "25.50", "renewal": "monthly", "valid_until": until},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["budget_usd"], body["renewal"]) == ("25.500000", "monthly")
    assert datetime.fromisoformat(body["valid_until"]) == datetime.fromisoformat(until)
    history = (await seeded.call("GET", f"/keys/{key['key_id']}/history")).json()
    assert [h["type"] for h in history] == ["KeyIssued", "BudgetChanged", "ValidityChanged"]


async def test_bad_edits_are_rejected_and_change_nothing(seeded: Keys) -> None:
    key = (await create(seeded)).json()
    before = await seeded.event_count()
    url = f"/keys/{key['key_id']}"
    assert (await seeded.call("PATCH", url, json={"budget_usd": 0})).status_code == 422
    past = await seeded.call("PATCH", url, json={"valid_until": in_days(-2)})
    assert past.status_code == 422 and "in the past" in past.json()["detail"]
    assert (await seeded.call("PATCH", url, json={"renewal": "hourly"})).status_code == 422
    assert await seeded.event_count() == before


async def test_revoking_records_who_and_why_and_a_revoked_key_cannot_change(seeded: Keys) -> None:
    key = (await create(seeded)).json()
    url = f"/keys/{key['key_id']}"
    response = await seeded.call("POST", f"{url}/revoke", json={"reason": "lost laptop"})
    assert response.status_code == 200 and response.json()["status"] == "revoked"
    history = (await seeded.call("GET", f"{url}/history")).json()
    assert history[-1]["data"]["reason"] == "lost laptop"
    assert history[-1]["data"]["revoked_by"] == response.json()["issued_by"]
    again = await seeded.call("POST", f"{url}/revoke", json={"reason": "again"})
    assert again.status_code == 409 and "is revoked" in again.json()["detail"]
    empty = await seeded.call("POST", f"{url}/revoke", json={"reason": ""})
    assert empty.status_code == 422


async def test_an_expired_key_shows_expired_and_the_user_may_get_a_new_one(seeded: Keys) -> None:
    key = (await create(seeded, valid_until=in_days(1))).json()
    seeded.clock.set(datetime.now(UTC) + timedelta(days=2))
    assert (await seeded.call("GET", f"/keys/{key['key_id']}")).json()["status"] == "expired"
    assert (await create(seeded)).status_code == 201


async def test_requests_without_a_valid_admin_token_are_401(seeded: Keys) -> None:
    assert (await seeded.http.get("/staff")).status_code == 401
    bad = await seeded.http.get("/staff", headers={"Authorization": "Bearer ais-admin-nope"})
    assert bad.status_code == 401
    assert bad.headers["content-type"] == "application/problem+json"
