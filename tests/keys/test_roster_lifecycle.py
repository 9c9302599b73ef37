"""The roster drives access: who is deleted, disabled, unlinked or gone loses their key in the
same import; the answer says whose; unusable rows are listed; broken files change nothing."""

from __future__ import annotations

import copy

from tests.keys.conftest import DIRECTORY, Keys
from tests.keys.roster import import_zip, roster_zip, sample_text

SAMPLE = roster_zip()


async def with_keys(keys: Keys, *users: str) -> dict[str, str]:
    """Import the sample and give each user a key; user id -> key id."""
    assert (await import_zip(keys, SAMPLE)).status_code == 200
    issued = {}
    for user in users:
        response = await keys.call("POST", f"/users/{user}/keys", json={"budget_usd": "2"})
        assert response.status_code == 201, response.text
        issued[user] = response.json()["key_id"]
    return issued


async def status(keys: Keys, key_id: str) -> str:
    return str((await keys.call("GET", f"/keys/{key_id}")).json()["status"])


def revoked(response_json: dict[str, object]) -> list[tuple[str, str, str]]:
    rows = response_json["revoked"]
    assert isinstance(rows, list)
    return sorted((r["user_id"], r["name"], r["reason"]) for r in rows)


async def test_a_user_marked_tobedeleted_loses_their_key_in_the_same_import(keys: Keys) -> None:
    issued = await with_keys(keys, "or-s-1", "or-s-2")
    deleted = roster_zip(change={"or-s-1": {"status": "tobedeleted"}})
    response = await import_zip(keys, deleted)
    assert response.status_code == 200, response.text
    assert revoked(response.json()) == [
        ("or-s-1", "Sanne de Jong", "roster: marked tobedeleted in users.csv")
    ]
    assert await status(keys, issued["or-s-1"]) == "revoked"
    assert await status(keys, issued["or-s-2"]) == "active"
    students = (await keys.call("GET", "/groups/or-c-1/students")).json()
    assert "or-s-1" not in [r["user_id"] for r in students]


async def test_a_disabled_user_loses_their_key_and_is_told_so_not_to_link_an_account(
    keys: Keys,
) -> None:
    issued = await with_keys(keys, "or-s-1")
    disabled = roster_zip(change={"or-s-1": {"enabledUser": "false"}})
    response = await import_zip(keys, disabled)
    assert revoked(response.json()) == [("or-s-1", "Sanne de Jong", "roster: user disabled")]
    assert await status(keys, issued["or-s-1"]) == "revoked"
    again = await keys.call("POST", "/users/or-s-1/keys", json={"budget_usd": "2"})
    assert again.status_code == 409
    assert "disabled in the roster" in again.json()["detail"]
    assert "link" not in again.json()["detail"]


async def test_a_user_missing_from_the_next_file_is_disabled_unlinked_and_loses_their_key(
    keys: Keys,
) -> None:
    issued = await with_keys(keys, "or-s-1", "or-t-1")
    assert await status(keys, issued["or-t-1"]) == "active"
    without = roster_zip(drop=["or-s-1", "or-e-2", "or-t-1", "or-e-1"])
    response = await import_zip(keys, without)
    body = response.json()
    assert revoked(body) == [
        ("or-s-1", "Sanne de Jong", "roster: no longer in the roster file"),
        ("or-t-1", "Marit Visser", "roster: no longer in the roster file"),
    ]
    assert body["counts"]["AccountUnlinked"] == 2
    staff = (await keys.call("GET", "/staff?school_id=or-school-a")).json()
    marit = next(r for r in staff if r["user_id"] == "or-t-1")
    assert (marit["linked"], marit["key_status"]) == (False, "revoked")
    # The file is a full description: importing it again changes nothing more.
    assert (await import_zip(keys, without)).json()["events"] == 0


async def test_a_class_missing_from_the_next_file_empties_its_group_and_revokes_its_keys(
    keys: Keys,
) -> None:
    issued = await with_keys(keys, "or-s-1")
    without = roster_zip(drop=["or-c-1", "or-e-1", "or-e-2", "or-e-3", "or-e-4"])
    response = await import_zip(keys, without)
    reason = "roster: group Informatica 4A (or-c-1) is no longer in the roster file"
    assert revoked(response.json()) == [("or-s-1", "Sanne de Jong", reason)]
    assert await status(keys, issued["or-s-1"]) == "revoked"
    assert (await keys.call("GET", "/groups/or-c-1/students")).json() == []


async def test_a_json_import_changes_only_the_users_it_lists_and_unlinking_revokes(
    seeded: Keys,
) -> None:
    t1 = (await seeded.call("POST", "/users/t1/keys", json={"budget_usd": "2"})).json()
    s1 = (await seeded.call("POST", "/users/s1/keys", json={"budget_usd": "2"})).json()
    only_t1 = copy.deepcopy(DIRECTORY["users"][0])
    del only_t1["account"]
    response = await seeded.call("POST", "/directory", json={"users": [only_t1]})
    assert revoked(response.json()) == [("t1", "Tess Teacher", "roster: account unlinked")]
    assert await status(seeded, t1["key_id"]) == "revoked"
    assert await status(seeded, s1["key_id"]) == "active"  # not listed: left alone


async def test_rows_that_cannot_be_used_are_listed_as_skipped_with_the_reason(keys: Keys) -> None:
    enrol = {"status": "active", "role": "student", "schoolSourcedId": "or-school-a"}
    extra = [
        {**enrol, "sourcedId": "e-x1", "classSourcedId": "or-c-9", "userSourcedId": "or-s-2"},
        {**enrol, "sourcedId": "e-x2", "classSourcedId": "or-c-1", "userSourcedId": "or-s-9"},
        {**enrol, "sourcedId": "e-x3", "classSourcedId": "or-c-1", "userSourcedId": "or-s-4"},
        {**enrol, "sourcedId": "e-x4", "classSourcedId": "or-c-2", "userSourcedId": "or-s-4"},
        {**enrol, "sourcedId": "e-x5", "classSourcedId": "", "userSourcedId": "or-s-2"},
    ]
    extra[3]["beginDate"] = "next monday"
    klass = {"sourcedId": "or-c-3", "title": "Lost", "schoolSourcedId": "district-1"}
    data = roster_zip(add={"enrollments.csv": extra, "classes.csv": [klass]})
    response = await import_zip(keys, data)
    assert response.status_code == 200, response.text
    skipped = [(s["file"], s["line"], s["row_id"], s["reason"]) for s in response.json()["skipped"]]
    assert skipped == [
        ("users.csv", 8, "or-p-1", "role 'parent' gets no key"),
        ("users.csv", 9, "or-d-1", "in no school of orgs.csv (orgSourcedIds: 'district-1')"),
        ("classes.csv", 4, "or-c-3", "school 'district-1' is not a school in orgs.csv"),
        ("enrollments.csv", 7, "e-x1", "class 'or-c-9' is not in classes.csv"),
        ("enrollments.csv", 8, "e-x2", "user 'or-s-9' is not a student in users.csv"),
        (
            "enrollments.csv",
            9,
            "e-x3",
            "student 'or-s-4' is not in the class's school 'or-school-a'",
        ),
        ("enrollments.csv", 10, "e-x4", "beginDate 'next monday' is not a date (YYYY-MM-DD)"),
        ("enrollments.csv", 11, "e-x5", "no classSourcedId"),
    ]


async def test_an_unterminated_quote_fails_the_whole_import_with_file_and_line(keys: Keys) -> None:
    before = await keys.event_count()
    stray = 'or-s-9,active,2026-08-01T00:00:00Z,true,or-school-a,student,"s.stray,,Stray,User'
    users = sample_text("users.csv").replace("or-p-1,", f"{stray},,S9,,,,,10,\nor-p-1,", 1)
    response = await import_zip(keys, roster_zip(raw={"users.csv": users}))
    assert response.status_code == 422
    assert response.json()["detail"].startswith("users.csv line 8: not valid CSV")
    assert response.json()["detail"].endswith("nothing was imported.")
    assert await keys.event_count() == before
    assert (await keys.call("GET", "/staff")).json() == []


async def test_a_row_with_more_fields_than_its_header_fails_with_file_and_line(keys: Keys) -> None:
    before = await keys.event_count()
    rows = sample_text("enrollments.csv").splitlines()
    rows[3] += ",surplus"
    response = await import_zip(keys, roster_zip(raw={"enrollments.csv": "\n".join(rows)}))
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "enrollments.csv line 4: 11 fields where the header has 10; nothing was imported."
    )
    assert await keys.event_count() == before


async def test_students_in_no_group_are_listed_as_unassigned_within_scope(keys: Keys) -> None:
    loner = {
        "sourcedId": "or-s-5",
        "status": "active",
        "enabledUser": "true",
        "orgSourcedIds": "or-school-a",
        "role": "student",
        "username": "e.alleen",
        "givenName": "Eva",
        "familyName": "Alleen",
    }
    await import_zip(keys, roster_zip(add={"users.csv": [loner]}))
    rows = (await keys.call("GET", "/students/unassigned")).json()
    assert [(r["user_id"], r["name"], r["group_ids"]) for r in rows] == [
        ("or-s-5", "Eva Alleen", [])
    ]
    assert (await keys.call("GET", "/students/unassigned?school_id=or-school-b")).json() == []
    # An administrator of another school does not see them at all.
    assert (await keys.call("GET", "/students/unassigned", who="north")).json() == []


async def test_the_staff_list_shows_the_oneroster_role(keys: Keys) -> None:
    await import_zip(keys, SAMPLE)
    staff = (await keys.call("GET", "/staff?school_id=or-school-a")).json()
    assert [(r["user_id"], r["role"], r["roster_role"]) for r in staff] == [
        ("or-t-2", "staff", "administrator"),
        ("or-t-1", "staff", "teacher"),
    ]


async def test_a_group_key_sheet_skips_a_disabled_student_saying_so(keys: Keys) -> None:
    await import_zip(keys, SAMPLE)
    response = await keys.call("POST", "/groups/or-c-2/keys", json={"budget_usd": "2"})
    assert response.status_code == 409
    assert "Daan Bos: disabled in the roster" in response.json()["detail"]
