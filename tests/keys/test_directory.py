"""Directory import (JSON and OneRoster), lists by scope, and the CLI import."""

from __future__ import annotations

import copy
import io
import zipfile
from pathlib import Path

from typer.testing import CliRunner

from services.keys.cli import app as keys_cli
from tests.keys.conftest import DIRECTORY, SECRET, Keys

SAMPLE = Path(__file__).parents[1] / "fixtures" / "oneroster" / "sample.zip"


async def test_importing_the_same_directory_twice_appends_nothing_the_second_time(
    seeded: Keys,
) -> None:
    before = await seeded.event_count()
    response = await seeded.call("POST", "/directory", json=DIRECTORY)
    assert response.json() == {"events": 0, "counts": {}, "revoked": [], "skipped": []}
    assert await seeded.event_count() == before


async def test_a_changed_record_appends_only_its_change(seeded: Keys) -> None:
    changed = copy.deepcopy(DIRECTORY)
    changed["users"][1]["account"] = "tom@north"
    changed["schools"][0]["name"] = "North College (renamed)"
    response = await seeded.call("POST", "/directory", json=changed)
    assert response.json()["counts"] == {"AccountLinked": 1, "SchoolRecorded": 1}


async def test_bad_directory_input_is_rejected_precisely_and_changes_nothing(seeded: Keys) -> None:
    before = await seeded.event_count()
    cases = [
        ({"schools": [{"school_id": "x", "name": "X", "time_zone": "Mars/Base"}]}, "IANA"),
        (
            {"groups": [{"group_id": "g", "school_id": "nowhere", "name": "G"}]},
            "unknown school 'nowhere'",
        ),
        (
            {
                "groups": [
                    {"group_id": "g", "school_id": "north", "name": "G", "student_ids": ["t1"]}
                ]
            },
            "'t1', which is not a student",
        ),
        ({"users": [{"user_id": "u", "role": "cook"}]}, "role"),
    ]
    for body, message in cases:
        response = await seeded.call("POST", "/directory", json=body)
        assert response.status_code == 422, body
        assert message in response.json()["detail"]
    assert await seeded.event_count() == before


async def test_lists_show_linked_state_key_status_and_budget_within_scope(seeded: Keys) -> None:
    await seeded.call("POST", "/users/s1/keys", json={"budget_usd": "5", "renewal": "daily"})
    staff = (await seeded.call("GET", "/staff", who="north")).json()
    assert [(r["user_id"], r["linked"], r["key_status"]) for r in staff] == [
        ("t1", True, "none"),
        ("t2", False, "none"),
    ]
    students = (await seeded.call("GET", "/groups/n-4a/students", who="north")).json()
    rows = {r["user_id"]: r for r in students}
    assert rows["s1"]["key_status"] == "active"
    assert rows["s1"]["key"]["budget_usd"] == "5.000000"
    assert rows["s1"]["key"]["used_usd"] == "0.000000"
    assert rows["s1"]["key"]["renewal"] == "daily"
    assert (rows["s3"]["linked"], rows["s3"]["key_status"]) == (False, "none")
    schools = (await seeded.call("GET", "/schools", who="north")).json()
    assert [s["school_id"] for s in schools] == ["north"]
    groups = (await seeded.call("GET", "/groups", who="north")).json()
    assert [(g["group_id"], g["students"]) for g in groups] == [("n-4a", 3)]


async def test_oneroster_sample_imports_and_importing_it_twice_appends_nothing(
    keys: Keys,
) -> None:
    data = SAMPLE.read_bytes()
    headers = {"Content-Type": "application/zip"}
    first = await keys.call(
        "POST",
        "/directory/oneroster?default_time_zone=Europe/Amsterdam",
        content=data,
        headers=headers,
    )
    assert first.status_code == 200, first.text
    assert first.json()["counts"] == {
        "SchoolRecorded": 2,
        "UserRecorded": 6,
        "AccountLinked": 4,
        "GroupRecorded": 2,
        "StudentEnrolled": 4,
        "EnrolmentDatesRecorded": 4,
    }
    assert [(r["file"], r["line"], r["row_id"], r["reason"]) for r in first.json()["skipped"]] == [
        ("users.csv", 8, "or-p-1", "role 'parent' gets no key"),
        ("users.csv", 9, "or-d-1", "in no school of orgs.csv (orgSourcedIds: 'district-1')"),
    ]
    before = await keys.event_count()
    second = await keys.call("POST", "/directory/oneroster", content=data, headers=headers)
    assert second.json()["events"] == 0
    assert await keys.event_count() == before
    students = (await keys.call("GET", "/groups/or-c-1/students")).json()
    assert [(r["name"], r["linked"]) for r in students] == [
        ("Sanne de Jong", True),
        ("Noor Mulder", False),
        ("Lars Smit", True),
    ]


def _zip_without_enrollment(enrollment_id: str) -> bytes:
    source = zipfile.ZipFile(SAMPLE)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            text = source.read(name).decode()
            if name == "enrollments.csv":
                text = "\n".join(r for r in text.splitlines() if not r.startswith(enrollment_id))
            target.writestr(name, text)
    return out.getvalue()


async def test_a_student_who_left_the_group_is_unenrolled_and_loses_their_key(keys: Keys) -> None:
    headers = {"Content-Type": "application/zip"}
    await keys.call("POST", "/directory/oneroster", content=SAMPLE.read_bytes(), headers=headers)
    key = (await keys.call("POST", "/users/or-s-1/keys", json={"budget_usd": "3"})).json()
    assert key["group_id"] == "or-c-1"

    response = await keys.call(
        "POST", "/directory/oneroster", content=_zip_without_enrollment("or-e-2"), headers=headers
    )
    # The enrolment's dates are forgotten with it, so no schedule enrols the student again.
    assert response.json()["counts"] == {
        "StudentUnenrolled": 1,
        "EnrolmentDatesRecorded": 1,
        "KeyRevoked": 1,
    }
    assert [(r["user_id"], r["reason"]) for r in response.json()["revoked"]] == [
        ("or-s-1", "roster: left group Informatica 4A (or-c-1)")
    ]
    students = (await keys.call("GET", "/groups/or-c-1/students")).json()
    assert "or-s-1" not in [r["user_id"] for r in students]
    history = (await keys.call("GET", f"/keys/{key['key_id']}/history")).json()
    assert "left group Informatica 4A" in history[-1]["data"]["reason"]


async def test_a_file_that_is_not_a_oneroster_zip_is_rejected(keys: Keys) -> None:
    headers = {"Content-Type": "application/zip"}
    bad = await keys.call("POST", "/directory/oneroster", content=b"not a zip", headers=headers)
    assert bad.status_code == 422 and "not a zip file" in bad.json()["detail"]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        target.writestr("orgs.csv", "sourcedId,name,type\n")
    partial = await keys.call(
        "POST", "/directory/oneroster", content=out.getvalue(), headers=headers
    )
    assert "lacks users.csv, classes.csv, enrollments.csv" in partial.json()["detail"]
    assert await keys.event_count() == 3  # the three administrators


def test_cli_imports_a_oneroster_zip_and_a_second_run_changes_nothing(
    database_url: str, monkeypatch
) -> None:
    monkeypatch.setenv("AISCHOOL_HASH_SECRET", SECRET)
    monkeypatch.setenv("AISCHOOL_NATS_URL", "nats://127.0.0.1:1")
    args = ["import-oneroster", str(SAMPLE), "--database-url", database_url]
    first = CliRunner().invoke(keys_cli, args)
    assert first.exit_code == 0, first.output
    assert "18 events" not in first.output and "4 StudentEnrolled" in first.output
    assert "skipped users.csv line 8 (or-p-1): role 'parent' gets no key" in first.output
    second = CliRunner().invoke(keys_cli, args)
    assert second.exit_code == 0, second.output
    assert "nothing changed" in second.output
