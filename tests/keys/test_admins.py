"""Administrators over HTTP: created within the caller's scope, listed, revoked at once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from contracts.events import AdminRevoked
from services.keys.cli import app as keys_cli
from tests.keys.conftest import SECRET, Keys


def admin_ids(keys: Keys, *names: str) -> list[str]:
    by_name = {r.name: r.admin_id for r in keys.ctx.model.admins.values()}
    return [by_name[n] for n in names]


def assert_problem(response: httpx.Response, status: int, detail: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]


async def test_created_admin_gets_a_working_token_shown_once(seeded: Keys) -> None:
    created = await seeded.call("POST", "/admins", json={"name": " Ann ", "school_ids": ["north"]})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "Ann" and body["school_ids"] == ["north"]
    assert body["token"].startswith("ais-admin-")
    ann = {"Authorization": f"Bearer {body['token']}"}
    staff = await seeded.http.get("/staff", headers=ann)
    assert {r["user_id"] for r in staff.json()} == {"t1", "t2"}
    listed = (await seeded.call("GET", "/admins")).json()
    row = next(r for r in listed if r["admin_id"] == body["admin_id"])
    assert set(row) == {"admin_id", "name", "school_ids", "created_at"}
    assert row["created_at"] == body["created_at"]


async def test_a_scoped_admin_creates_admins_for_a_subset_of_its_schools(seeded: Keys) -> None:
    seeded.tokens["both"] = (
        await seeded.call(
            "POST", "/admins", json={"name": "both", "school_ids": ["north", "south"]}
        )
    ).json()["token"]
    made = await seeded.call("POST", "/admins", "both", json={"name": "n", "school_ids": ["north"]})
    assert made.status_code == 201, made.text
    all_schools = await seeded.call(
        "POST", "/admins", "both", json={"name": "x", "school_ids": None}
    )
    assert_problem(all_schools, 403, "cannot create an all-schools administrator")


@pytest.mark.parametrize(
    ("who", "body", "status", "detail"),
    [
        ("north", {"name": "x", "school_ids": ["south"]}, 404, "There is no school 'south'"),
        ("north", {"name": "x", "school_ids": ["north", "south"]}, 404, "no school 'south'"),
        ("root", {"name": "x", "school_ids": ["nowhere"]}, 404, "There is no school 'nowhere'"),
        ("root", {"name": "  ", "school_ids": ["north"]}, 422, "name must not be empty"),
        ("root", {"name": "x", "school_ids": []}, 422, "at least one school, or be null"),
        ("root", {"name": "x"}, 422, "school_ids: Field required"),
        (
            "root",
            {"name": "x", "school_ids": None, "token": "m"},
            422,
            "token: Extra inputs are not",
        ),
    ],
)
async def test_a_refused_admin_creation_says_why_and_changes_nothing(
    seeded: Keys, who: str, body: dict[str, Any], status: int, detail: str
) -> None:
    before = await seeded.event_count()
    assert_problem(await seeded.call("POST", "/admins", who, json=body), status, detail)
    assert await seeded.event_count() == before


async def test_the_list_shows_only_admins_within_the_callers_scope(seeded: Keys) -> None:
    await seeded.call("POST", "/admins", json={"name": "both", "school_ids": ["north", "south"]})
    names = {
        who: [r["name"] for r in (await seeded.call("GET", "/admins", who)).json()]
        for who in ("root", "north")
    }
    assert sorted(names["root"]) == ["both", "north", "root", "south"]
    assert names["north"] == ["north"]
    rows = (await seeded.call("GET", "/admins")).json()
    assert {r["name"]: r["school_ids"] for r in rows}["root"] is None
    assert "token" not in str(rows) and "hash" not in str(rows)


async def test_a_revoked_token_gets_401_on_the_next_call(seeded: Keys) -> None:
    (north_id,) = admin_ids(seeded, "north")
    revoked = await seeded.call("POST", f"/admins/{north_id}/revoke")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["admin_id"] == north_id
    after = await seeded.call("GET", "/schools", "north")
    assert_problem(after, 401, "not valid (unknown or revoked)")
    assert north_id not in {r["admin_id"] for r in (await seeded.call("GET", "/admins")).json()}
    history = await seeded.ctx.projector.store.read_stream(f"admin:{north_id}")
    (root_id,) = admin_ids(seeded, "root")
    assert [s.event.type for s in history] == ["AdminCreated", "AdminRevoked"]
    revocation = history[1].event
    assert isinstance(revocation, AdminRevoked) and revocation.revoked_by == root_id
    assert_problem(await seeded.call("POST", f"/admins/{north_id}/revoke"), 409, "already revoked")


async def test_a_scoped_admin_may_revoke_itself(seeded: Keys) -> None:
    (north_id,) = admin_ids(seeded, "north")
    assert (await seeded.call("POST", f"/admins/{north_id}/revoke", "north")).status_code == 200
    assert (await seeded.call("GET", "/schools", "north")).status_code == 401


async def test_the_last_all_schools_admin_cannot_revoke_itself(seeded: Keys) -> None:
    (root_id,) = admin_ids(seeded, "root")
    before = await seeded.event_count()
    refused = await seeded.call("POST", f"/admins/{root_id}/revoke")
    assert_problem(refused, 409, "is the last all-schools administrator")
    assert await seeded.event_count() == before
    second = await seeded.call("POST", "/admins", json={"name": "root2", "school_ids": None})
    seeded.tokens["root2"] = second.json()["token"]
    assert (await seeded.call("POST", f"/admins/{root_id}/revoke")).status_code == 200
    # now root2 is the last one
    last = await seeded.call("POST", f"/admins/{second.json()['admin_id']}/revoke", "root2")
    assert_problem(last, 409, "last all-schools administrator")


@pytest.mark.parametrize("target", ["root", "south", "unknown"])
async def test_a_scoped_admin_cannot_see_or_revoke_admins_beyond_its_scope(
    seeded: Keys, target: str
) -> None:
    ids = {r.name: r.admin_id for r in seeded.ctx.model.admins.values()}
    admin_id = ids.get(target, target)
    before = await seeded.event_count()
    refused = await seeded.call("POST", f"/admins/{admin_id}/revoke", "north")
    assert_problem(refused, 404, f"There is no administrator '{admin_id}'")
    assert await seeded.event_count() == before


async def test_the_cli_revokes_an_admin_and_refuses_an_unknown_one(
    seeded: Keys, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AISCHOOL_HASH_SECRET", SECRET)
    monkeypatch.setenv("AISCHOOL_NATS_URL", "nats://127.0.0.1:1")  # revoking needs no NATS
    (north_id,) = admin_ids(seeded, "north")
    args = ["revoke-admin", north_id, "--database-url", database_url]
    # The CLI runs its own event loop: run it in a thread, as from another terminal.
    done = await asyncio.to_thread(CliRunner().invoke, keys_cli, args)
    assert done.exit_code == 0, done.output
    assert f"revoked administrator {north_id} (north)" in done.output
    await seeded.ctx.projector.catch_up()
    assert (await seeded.call("GET", "/schools", "north")).status_code == 401
    again = await asyncio.to_thread(CliRunner().invoke, keys_cli, args)
    assert again.exit_code == 1 and "already revoked" in again.output
    unknown = await asyncio.to_thread(
        CliRunner().invoke, keys_cli, ["revoke-admin", "nobody", "--database-url", database_url]
    )
    assert unknown.exit_code == 1 and "There is no administrator 'nobody'" in unknown.output


async def test_two_all_schools_admins_revoking_each_other_at_once_leave_one(seeded: Keys) -> None:
    second = await seeded.call("POST", "/admins", json={"name": "root2", "school_ids": None})
    seeded.tokens["root2"] = second.json()["token"]
    (root_id,) = admin_ids(seeded, "root")
    answers = await asyncio.gather(
        seeded.call("POST", f"/admins/{second.json()['admin_id']}/revoke", "root"),
        seeded.call("POST", f"/admins/{root_id}/revoke", "root2"),
    )
    assert sorted(a.status_code for a in answers)[0] == 200
    assert sorted(a.status_code for a in answers)[1] in {401, 403, 409}
    active = [a for a in seeded.ctx.model.admins.values() if a.school_ids is None and not a.revoked]
    assert len(active) == 1
