"""OneRoster 1.1 CSV (a zip of ``orgs``, ``users``, ``classes``, ``enrollments``) to a Snapshot.

Pure. Mapping: orgs of type ``school`` are schools (OneRoster has no time zone: known schools
keep theirs, new ones get ``default_time_zone``); ``student`` users are students, ``teacher``,
``administrator``, ``aide`` and ``proctor`` users are staff (others are ignored); classes are
groups; student enrolments are memberships. A user has a linked account when ``enabledUser``
is true and ``username`` is set (the account is the username). Rows with status
``tobedeleted`` are treated as absent.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator, Mapping

from contracts.events import Role
from services.keys.directory_diff import GroupRecord, SchoolRecord, Snapshot, UserRecord
from services.keys.errors import InvalidInput

FILES = ("orgs.csv", "users.csv", "classes.csv", "enrollments.csv")
STAFF_ROLES = {"teacher", "administrator", "aide", "proctor"}


def read_zip(data: bytes) -> dict[str, list[dict[str, str]]]:
    """The four CSV files of a OneRoster zip as rows (folders inside the zip are ignored)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise InvalidInput(
            "The upload is not a zip file (expected a OneRoster 1.1 CSV zip)."
        ) from exc
    by_name = {name.rsplit("/", 1)[-1]: name for name in archive.namelist()}
    missing = [f for f in FILES if f not in by_name]
    if missing:
        raise InvalidInput(f"The OneRoster zip lacks {', '.join(missing)}.")
    return {f: _rows(archive.read(by_name[f]), f) for f in FILES}


def _rows(raw: bytes, name: str) -> list[dict[str, str]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{name} is not UTF-8 text.") from exc
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "sourcedId" not in reader.fieldnames:
        raise InvalidInput(f"{name} has no header row with a sourcedId column.")
    return [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]


def _live(rows: list[dict[str, str]]) -> Iterator[dict[str, str]]:
    return (r for r in rows if r.get("status", "").lower() != "tobedeleted")


def _need(row: Mapping[str, str], column: str, name: str) -> str:
    value = row.get(column, "")
    if not value:
        raise InvalidInput(f"{name}: row {row.get('sourcedId') or '?'} has no {column}.")
    return value


def to_snapshot(
    tables: dict[str, list[dict[str, str]]], time_zones: Mapping[str, str], default_time_zone: str
) -> Snapshot:
    """Schools, users and groups (with full memberships) described by the export."""
    schools = [
        SchoolRecord(
            school_id=(sid := _need(r, "sourcedId", "orgs.csv")),
            name=_need(r, "name", "orgs.csv"),
            time_zone=time_zones.get(sid, default_time_zone),
        )
        for r in _live(tables["orgs.csv"])
        if r.get("type", "").lower() == "school"
    ]
    school_ids = {s.school_id for s in schools}
    users = [u for r in _live(tables["users.csv"]) if (u := _user(r, school_ids)) is not None]
    students = {u.user_id for u in users if u.role is Role.STUDENT}
    members = _memberships(tables["enrollments.csv"], students)
    groups = [
        GroupRecord(
            group_id=(gid := _need(r, "sourcedId", "classes.csv")),
            school_id=_need(r, "schoolSourcedId", "classes.csv"),
            name=_need(r, "title", "classes.csv"),
            student_ids=tuple(sorted(members.get(gid, set()))),
        )
        for r in _live(tables["classes.csv"])
    ]
    return Snapshot(schools=schools, groups=groups, users=users)


def _user(row: dict[str, str], school_ids: set[str]) -> UserRecord | None:
    role_name = row.get("role", "").lower()
    if role_name == "student":
        role = Role.STUDENT
    elif role_name in STAFF_ROLES:
        role = Role.STAFF
    else:
        return None
    orgs = tuple(
        o.strip() for o in row.get("orgSourcedIds", "").split(",") if o.strip() in school_ids
    )
    if not orgs:
        return None  # e.g. a district-level account: no school, nothing to issue keys in
    enabled = row.get("enabledUser", "true").lower() != "false"
    username = row.get("username", "")
    return UserRecord(
        user_id=_need(row, "sourcedId", "users.csv"),
        role=role,
        given_name=row.get("givenName", ""),
        family_name=row.get("familyName", ""),
        school_ids=orgs,
        email=row.get("email") or None,
        active=enabled,
        account=username if enabled and username else None,
    )


def _memberships(rows: list[dict[str, str]], students: set[str]) -> dict[str, set[str]]:
    members: dict[str, set[str]] = {}
    for row in _live(rows):
        user_id = row.get("userSourcedId", "")
        if row.get("role", "").lower() == "student" and user_id in students:
            members.setdefault(_need(row, "classSourcedId", "enrollments.csv"), set()).add(user_id)
    return members
