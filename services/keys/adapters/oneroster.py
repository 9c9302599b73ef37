"""OneRoster 1.1 CSV (a zip of ``orgs``, ``users``, ``classes``, ``enrollments``) to a Snapshot.

Pure. Mapping: orgs of type ``school`` are schools (OneRoster has no time zone: known schools
keep theirs, new ones get ``default_time_zone``); ``student`` users are students, ``teacher``,
``administrator``, ``aide`` and ``proctor`` users are staff, and that role is kept; classes are
groups; student enrolments are memberships, dated by ``beginDate`` (inclusive) and ``endDate``
(exclusive, as OneRoster defines it), both at 00:00 in the class's school's time zone. A user
has a linked account when ``enabledUser`` is true and ``username`` is set (the account is the
username). The zip describes its schools completely: a user or class of those schools that
it lacks, or marks ``tobedeleted``, is gone. Rows that cannot be used are skipped with the
reason; a file that is not valid CSV fails the whole import (``oneroster_csv``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time

from contracts.directory import EnrolmentDates
from contracts.events import Role
from services.keys.adapters.oneroster_csv import FILES, Row, Tables, read_zip
from services.keys.domain.directory_diff import (
    GroupRecord,
    SchoolRecord,
    SkippedRow,
    Snapshot,
    UserRecord,
)
from services.keys.domain.rules import zone

__all__ = ["FILES", "STAFF_ROLES", "read_zip", "to_snapshot"]

STAFF_ROLES = {"teacher", "administrator", "aide", "proctor"}
DELETED = "roster: marked tobedeleted in users.csv"


@dataclass
class _Reading:
    """What the mapping learnt on the way: skipped rows and users marked deleted."""

    skipped: list[SkippedRow] = field(default_factory=list)
    removed: dict[str, str] = field(default_factory=dict)

    def skip(self, row: Row, reason: str) -> None:
        self.skipped.append(SkippedRow(row.file, row.line, row.row_id, reason))

    def present(self, row: Row, *columns: str) -> bool:
        """True when every column has a value; else the row is skipped saying which lacks."""
        lacking = [c for c in columns if not row.get(c)]
        if lacking:
            self.skip(row, f"no {' or '.join(lacking)}")
        return not lacking


def _live(rows: Iterable[Row]) -> Iterable[Row]:
    return (r for r in rows if not r.deleted)


def to_snapshot(tables: Tables, time_zones: Mapping[str, str], default_time_zone: str) -> Snapshot:
    """Schools, users and groups (with full, dated memberships) described by the export."""
    reading = _Reading()
    schools = [
        SchoolRecord(r.row_id, r.get("name"), time_zones.get(r.row_id, default_time_zone))
        for r in _live(tables["orgs.csv"])
        if r.get("type").lower() == "school" and reading.present(r, "sourcedId", "name")
    ]
    zones = {s.school_id: s.time_zone for s in schools}
    users = _users(tables["users.csv"], set(zones), reading)
    classes = _classes(tables["classes.csv"], set(zones), reading)
    students = {u.user_id: u for u in users if u.role is Role.STUDENT}
    members = _memberships(tables["enrollments.csv"], classes, students, zones, reading)
    groups = [
        GroupRecord(gid, school, title, tuple(sorted(members.get(gid, {}))), members.get(gid, {}))
        for gid, (school, title) in classes.items()
    ]
    return Snapshot(
        schools, groups, users, complete=True, removed=reading.removed, skipped=reading.skipped
    )


def _users(rows: list[Row], school_ids: set[str], reading: _Reading) -> list[UserRecord]:
    users: list[UserRecord] = []
    for row in rows:
        if row.deleted:
            if row.row_id:
                reading.removed[row.row_id] = DELETED
            continue
        user = _user(row, school_ids, reading)
        if user is not None:
            users.append(user)
    return users


def _user(row: Row, school_ids: set[str], reading: _Reading) -> UserRecord | None:
    role_name = row.get("role").lower()
    if not reading.present(row, "sourcedId"):
        return None
    if role_name != "student" and role_name not in STAFF_ROLES:
        reading.skip(row, f"role {role_name or '(none)'!r} gets no key")
        return None
    listed = [o.strip() for o in row.get("orgSourcedIds").split(",") if o.strip()]
    orgs = tuple(o for o in listed if o in school_ids)
    if not orgs:
        # e.g. a district-level account: no school, nothing to issue keys in
        reading.skip(row, f"in no school of orgs.csv (orgSourcedIds: {','.join(listed)!r})")
        return None
    enabled = row.get("enabledUser").lower() != "false"
    username = row.get("username")
    return UserRecord(
        user_id=row.row_id,
        role=Role.STUDENT if role_name == "student" else Role.STAFF,
        given_name=row.get("givenName"),
        family_name=row.get("familyName"),
        school_ids=orgs,
        email=row.get("email") or None,
        active=enabled,
        account=username if enabled and username else None,
        roster_role=role_name,
    )


def _classes(
    rows: list[Row], school_ids: set[str], reading: _Reading
) -> dict[str, tuple[str, str]]:
    classes: dict[str, tuple[str, str]] = {}
    for row in _live(rows):
        if not reading.present(row, "sourcedId", "title", "schoolSourcedId"):
            continue
        school = row.get("schoolSourcedId")
        if school not in school_ids:
            reading.skip(row, f"school {school!r} is not a school in orgs.csv")
            continue
        classes[row.row_id] = (school, row.get("title"))
    return classes


def _memberships(
    rows: list[Row],
    classes: Mapping[str, tuple[str, str]],
    students: Mapping[str, UserRecord],
    zones: Mapping[str, str],
    reading: _Reading,
) -> dict[str, dict[str, EnrolmentDates]]:
    """Class id -> student id -> dates; staff enrolments are not memberships."""
    members: dict[str, dict[str, EnrolmentDates]] = {}
    for row in _live(rows):
        if row.get("role").lower() != "student":
            continue
        found = _enrolment(row, classes, students, reading)
        if found is None:
            continue
        class_id, user_id = found
        dates = _dates(row, zones[classes[class_id][0]], reading)
        if dates is None:
            continue
        if user_id in members.setdefault(class_id, {}):
            reading.skip(
                row, f"a second enrolment of {user_id!r} in {class_id!r}; the first counts"
            )
            continue
        members[class_id][user_id] = dates
    return members


def _enrolment(
    row: Row,
    classes: Mapping[str, tuple[str, str]],
    students: Mapping[str, UserRecord],
    reading: _Reading,
) -> tuple[str, str] | None:
    if not reading.present(row, "classSourcedId", "userSourcedId"):
        return None
    class_id, user_id = row.get("classSourcedId"), row.get("userSourcedId")
    if class_id not in classes:
        reading.skip(row, f"class {class_id!r} is not in classes.csv")
    elif user_id in reading.removed:
        return None  # a deleted student: gone, and their enrolments with them
    elif user_id not in students:
        reading.skip(row, f"user {user_id!r} is not a student in users.csv")
    elif classes[class_id][0] not in students[user_id].school_ids:
        school = classes[class_id][0]
        reading.skip(row, f"student {user_id!r} is not in the class's school {school!r}")
    else:
        return class_id, user_id
    return None


def _dates(row: Row, time_zone: str, reading: _Reading) -> EnrolmentDates | None:
    bounds: list[datetime | None] = []
    for column in ("beginDate", "endDate"):
        text = row.get(column)
        try:
            day = date.fromisoformat(text) if text else None
        except ValueError:
            reading.skip(row, f"{column} {text!r} is not a date (YYYY-MM-DD)")
            return None
        bounds.append(None if day is None else datetime.combine(day, time(), zone(time_zone)))
    begins, ends = bounds
    if begins is not None and ends is not None and ends <= begins:
        reading.skip(row, "endDate is not after beginDate")
        return None
    return EnrolmentDates(begins, ends)
