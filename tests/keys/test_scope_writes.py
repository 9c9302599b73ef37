"""Scope on writes: a body or path naming another school's user, group or key is refused with
404 and changes nothing; a shared user's key belongs to the school that issued it."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import UTC, datetime
from typing import Any

from contracts.events import KeyIssued, StudentEnrolled
from services.keys.usecases.ports import StreamAppend
from tests.keys.conftest import Keys

KEY = "{key}"  # replaced by a key of the south school
ADMIN = "{admin}"  # replaced by the id of the south school's administrator
WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}


def _oneroster(users: str, enrollments: str) -> bytes:
    """A OneRoster zip whose north class enrols the given users."""
    files = {
        "orgs.csv": "sourcedId,status,name,type\nnorth,active,North College,school\n",
        "users.csv": "sourcedId,status,enabledUser,orgSourcedIds,role,username,givenName,"
        "familyName\n" + users,
        "classes.csv": "sourcedId,status,title,schoolSourcedId\nn-4a,active,4A,north\n",
        "enrollments.csv": "sourcedId,status,classSourcedId,schoolSourcedId,userSourcedId,role\n"
        + enrollments,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


ENROL_SOUTH_STUDENT = {
    "groups": [
        {"group_id": "n-4a", "school_id": "north", "name": "4A", "student_ids": ["s1", "z2"]}
    ]
}
MOVE_SOUTH_STUDENT = {
    "users": [
        {
            "user_id": "z2",
            "role": "student",
            "given_name": "Yan",
            "family_name": "South",
            "school_ids": ["north"],
        }
    ]
}
ZIP_MOVING_SOUTH_STUDENT = _oneroster(
    "z2,active,true,north,student,yan@south,Yan,South\n",
    "e1,active,n-4a,north,z2,student\n",
)

# Every write endpoint, each with a body or path that names something of the south school.
WRITES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/directory", {"json": ENROL_SOUTH_STUDENT}),
    ("POST", "/directory", {"json": MOVE_SOUTH_STUDENT}),
    ("POST", "/directory/oneroster", {"content": ZIP_MOVING_SOUTH_STUDENT}),
    ("POST", "/users/z2/keys", {"json": {"budget_usd": "1"}}),
    ("PATCH", f"/keys/{KEY}", {"json": {"budget_usd": "2"}}),
    ("POST", f"/keys/{KEY}/revoke", {"json": {"reason": "x"}}),
    ("POST", "/groups/s-9/keys", {"json": {"budget_usd": "1"}}),
    ("POST", "/groups/s-9/keys/revocation", {"json": {"confirmation_token": "1.a", "reason": "x"}}),
    ("POST", "/admins", {"json": {"name": "x", "school_ids": ["north", "south"]}}),
    ("POST", f"/admins/{ADMIN}/revoke", {}),
]


async def _events(keys: Keys) -> list[tuple[int, uuid.UUID]]:
    stored = await keys.ctx.projector.store.read_after(0, 1_000_000)
    return [(s.position, s.event.event_id) for s in stored]


async def test_writes_naming_another_schools_things_are_refused_and_change_nothing(
    seeded: Keys,
) -> None:
    south_key = (await seeded.call("POST", "/users/z2/keys", json={"budget_usd": "1"})).json()
    south_admin = next(a.admin_id for a in seeded.ctx.model.admins.values() if a.name == "south")
    for method, url, kwargs in WRITES:
        before = await _events(seeded)
        target = url.replace(KEY, south_key["key_id"]).replace(ADMIN, south_admin)
        response = await seeded.call(method, target, who="north", **kwargs)
        assert response.status_code == 404, (method, url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert "There is no" in response.json()["detail"], (method, url)
        assert await _events(seeded) == before, (method, url)
    students = (await seeded.call("GET", "/groups/n-4a/students", who="north")).json()
    assert "z2" not in {r["user_id"] for r in students}
    south = (await seeded.call("GET", "/groups/s-9/students", who="south")).json()
    assert [r["user_id"] for r in south] == ["z2"]


def test_every_write_endpoint_has_a_case_naming_another_school() -> None:
    from services.keys.app import create_app
    from tests.keys.conftest import settings_for

    app = create_app(settings_for("postgresql://unused", "nats://unused"))
    paths = app.openapi()["paths"]
    writes = {(m.upper(), p) for p, ops in paths.items() for m in ops if m.upper() in WRITE_METHODS}
    covered = {
        (
            m,
            u.replace("s-9", "{group_id}")
            .replace("z2", "{user_id}")
            .replace(KEY, "{key_id}")
            .replace(ADMIN, "{admin_id}"),
        )
        for m, u, _ in WRITES
    }
    assert writes == covered


SHARED = {
    "users": [
        {
            "user_id": "both",
            "role": "staff",
            "given_name": "Sam",
            "family_name": "Shared",
            "school_ids": ["north", "south"],
            "account": "sam@both",
        }
    ]
}


async def test_re_recording_a_shared_user_keeps_the_memberships_of_other_schools(
    seeded: Keys,
) -> None:
    assert (await seeded.call("POST", "/directory", json=SHARED)).status_code == 200
    only_north = {"users": [{**SHARED["users"][0], "school_ids": ["north"]}]}
    response = await seeded.call("POST", "/directory", json=only_north, who="north")
    assert response.status_code == 200, response.text
    assert response.json()["events"] == 0  # the south membership was never north's to remove
    south_staff = (await seeded.call("GET", "/staff", who="south")).json()
    assert "both" in {r["user_id"] for r in south_staff}
    north_row = next(
        r
        for r in (await seeded.call("GET", "/staff", who="north")).json()
        if r["user_id"] == "both"
    )
    assert north_row["school_ids"] == ["north"]  # south's membership is south's to show


async def test_a_shared_users_key_belongs_to_the_school_that_issued_it(seeded: Keys) -> None:
    await seeded.call("POST", "/directory", json=SHARED)
    issued = await seeded.call("POST", "/users/both/keys", json={"budget_usd": "7"}, who="south")
    assert issued.status_code == 201, issued.text
    key = issued.json()
    assert key["school_id"] == "south"

    rows = (await seeded.call("GET", "/staff", who="north")).json()
    row = next(r for r in rows if r["user_id"] == "both")
    assert (row["key_status"], row["key"]) == ("elsewhere", None)  # no budget, no hint
    for method, url, body in [
        ("GET", f"/keys/{key['key_id']}", None),
        ("GET", f"/keys/{key['key_id']}/history", None),
        ("PATCH", f"/keys/{key['key_id']}", {"budget_usd": "1"}),
        ("POST", f"/keys/{key['key_id']}/revoke", {"reason": "mine now"}),
    ]:
        response = await seeded.call(method, url, json=body, who="north")
        assert response.status_code == 404, (method, url)
    replaced = await seeded.call(
        "POST", "/users/both/keys", json={"budget_usd": "1", "replace": True}, who="north"
    )
    assert replaced.status_code == 409
    assert "issued by another school" in replaced.json()["detail"]
    owner = (await seeded.call("GET", f"/keys/{key['key_id']}", who="south")).json()
    assert (owner["status"], owner["budget_usd"]) == ("active", "7.000000")
    # An all-schools administrator's replacement stays with the school that owns the key.
    root = await seeded.call("POST", "/users/both/keys", json={"budget_usd": "2", "replace": True})
    assert (root.status_code, root.json()["school_id"]) == (201, "south")


async def test_a_group_cannot_list_a_student_of_another_of_its_admins_schools(
    seeded: Keys,
) -> None:
    group = {"group_id": "n-4a", "school_id": "north", "name": "4A", "student_ids": ["s1", "z2"]}
    body = {"groups": [group]}
    before = await _events(seeded)
    response = await seeded.call("POST", "/directory", json=body)  # root sees both schools
    assert response.status_code == 422
    assert "student 'z2' is not in that school" in response.json()["detail"]
    assert await _events(seeded) == before


async def test_a_student_who_leaves_a_school_leaves_its_groups_and_loses_the_key(
    seeded: Keys,
) -> None:
    key = (await seeded.call("POST", "/users/s1/keys", json={"budget_usd": "3"})).json()
    moved = {
        "users": [
            {
                "user_id": "s1",
                "role": "student",
                "given_name": "Ada",
                "family_name": "Alpha",
                "school_ids": ["south"],
                "account": "ada@north",
            }
        ]
    }
    response = await seeded.call("POST", "/directory", json=moved)
    assert response.json()["counts"] == {
        "UserRecorded": 1,
        "StudentUnenrolled": 1,
        "KeyRevoked": 1,
    }
    students = (await seeded.call("GET", "/groups/n-4a/students")).json()
    assert "s1" not in {r["user_id"] for r in students}
    assert (await seeded.call("GET", f"/keys/{key['key_id']}")).json()["status"] == "revoked"


async def test_group_keys_skip_a_member_outside_the_groups_school_instead_of_failing(
    seeded: Keys, documents: object
) -> None:
    # Such a membership cannot be imported any more; an older store may still hold one.
    store, model = seeded.ctx.projector.store, seeded.ctx.model
    stray = StudentEnrolled(
        event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), user_id="z2", group_id="n-4a"
    )
    await store.append(StreamAppend("user:z2", model.version("user:z2"), [stray]))
    await seeded.ctx.projector.catch_up()

    response = await seeded.call("POST", "/groups/n-4a/keys", json={"budget_usd": "1"}, who="north")
    assert response.status_code == 201, response.text
    body = response.json()
    assert {c["user_id"] for c in body["issued"]} == {"s1", "s2"}
    skipped = {s["user_id"]: s["reason"] for s in body["skipped"]}
    assert skipped["z2"] == "not in the group's school"
    assert all(key["school_id"] == "north" for key in _keys_of(seeded, {"s1", "s2"}))


def _keys_of(keys: Keys, users: set[str]) -> list[dict[str, Any]]:
    model = keys.ctx.model
    return [{"school_id": k.school_id} for k in model.keys.values() if k.user_id in users]


async def test_a_keys_history_holds_no_hash_of_its_secret(seeded: Keys) -> None:
    key = (await seeded.call("POST", "/users/s1/keys", json={"budget_usd": "3"})).json()
    history = await seeded.call("GET", f"/keys/{key['key_id']}/history")
    assert history.status_code == 200
    assert history.json()[0]["type"] == "KeyIssued"
    assert "key_hash" not in history.json()[0]["data"]
    stored = seeded.ctx.projector.store
    issued = (await stored.read_stream(f"key:{key['key_id']}"))[0].event
    assert isinstance(issued, KeyIssued)
    assert issued.key_hash not in history.text


async def test_a_roster_zip_of_one_school_keeps_a_shared_users_other_schools(
    seeded: Keys,
) -> None:
    await seeded.call("POST", "/directory", json=SHARED)
    only_north = _oneroster("both,active,true,north,teacher,sam@both,Sam,Shared\n", "")
    response = await seeded.call("POST", "/directory/oneroster", content=only_north)  # root
    assert response.status_code == 200, response.text
    south_staff = (await seeded.call("GET", "/staff?school_id=south")).json()
    assert "both" in {r["user_id"] for r in south_staff}
