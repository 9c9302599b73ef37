"""Inputs that get a clear 4xx and change nothing: sizes, local times, bodies, people."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from tests.keys.conftest import Keys

MIB = 1024 * 1024
ZIP = {"Content-Type": "application/zip"}


async def test_a_json_body_over_one_mib_is_refused_with_413_before_parsing(seeded: Keys) -> None:
    before = await seeded.event_count()
    huge = b'{"schools": [' + b" " * (MIB + 1) + b"]}"
    response = await seeded.call(
        "POST", "/directory", content=huge, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == (
        "The request body is larger than 1 MiB; send at most 1 MiB."
    )
    assert await seeded.event_count() == before


async def test_a_streamed_body_without_length_is_cut_off_at_the_limit(seeded: Keys) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b" " * (MIB // 2)

    response = await seeded.call(
        "POST", "/users/s1/keys", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


async def test_a_roster_zip_over_fifty_mib_is_refused_with_413(seeded: Keys) -> None:
    response = await seeded.call(
        "POST", "/directory/oneroster", content=b"0" * (50 * MIB + 1), headers=ZIP
    )
    assert response.status_code == 413 and "50 MiB" in response.json()["detail"]


async def test_an_empty_roster_upload_says_what_to_send(seeded: Keys) -> None:
    response = await seeded.call("POST", "/directory/oneroster", content=b"", headers=ZIP)
    assert response.status_code == 422
    assert response.json()["detail"] == "Send the OneRoster 1.1 CSV zip as the request body."


async def test_a_missing_body_says_what_to_send(seeded: Keys) -> None:
    response = await seeded.call("POST", "/users/s1/keys")
    assert response.status_code == 422
    assert response.json()["detail"] == "This request needs a JSON body with budget_usd."
    revoke = await seeded.call("POST", "/groups/n-4a/keys/revocation")
    assert revoke.json()["detail"] == (
        "This request needs a JSON body with confirmation_token, reason."
    )


async def test_a_local_time_skipped_by_daylight_saving_is_refused(seeded: Keys) -> None:
    # North is in Europe/Amsterdam: on 2027-03-28 the clocks go from 02:00 to 03:00.
    before = await seeded.event_count()
    response = await seeded.call(
        "POST",
        "/users/s1/keys",
        json={"budget_usd": "1", "valid_from": "2027-03-28T02:30:00"},
    )
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "2027-03-28T02:30:00 does not exist in Europe/Amsterdam: the clocks skip that hour "
        "when daylight saving time starts. Choose a time outside it."
    )
    assert await seeded.event_count() == before


async def test_a_repeated_local_time_is_read_as_its_first_occurrence(seeded: Keys) -> None:
    # On 2027-10-31 Amsterdam's 02:30 happens twice: the first is still summer time (+02:00).
    response = await seeded.call(
        "POST",
        "/users/s1/keys",
        json={"budget_usd": "1", "valid_until": "2027-10-31T02:30:00"},
    )
    assert response.status_code == 201, response.text
    until = datetime.fromisoformat(response.json()["valid_until"])
    assert until.astimezone(UTC) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)


async def test_a_disabled_user_is_told_they_are_disabled_not_to_link_an_account(
    seeded: Keys,
) -> None:
    disabled = {
        "users": [
            {
                "user_id": "s1",
                "role": "student",
                "given_name": "Ada",
                "family_name": "Alpha",
                "school_ids": ["north"],
                "active": False,
                "account": "ada@north",
            }
        ]
    }
    assert (await seeded.call("POST", "/directory", json=disabled)).status_code == 200
    response = await seeded.call("POST", "/users/s1/keys", json={"budget_usd": "1"})
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "disabled in the roster" in detail and "link" not in detail
    row = next(
        r
        for r in (await seeded.call("GET", "/groups/n-4a/students")).json()
        if r["user_id"] == "s1"
    )
    assert row["active"] is False
