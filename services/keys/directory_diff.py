"""Directory import as a diff: the events that turn the current directory into the given one.

Pure. Importing the same records twice yields no events the second time. Records are full
descriptions: a user without ``account`` is unlinked; a group's ``student_ids`` (when given)
is its whole membership, so a student missing from it is unenrolled; a student whose
enrolment dates do not hold at ``now`` is not (yet, or no longer) a member. A ``complete``
snapshot (a OneRoster zip) also describes its schools fully: what it leaves out is gone
(``services.keys.roster_rules``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from contracts.directory import Admin, Directory, EnrolmentDates
from contracts.events import (
    AccountLinked,
    AccountUnlinked,
    EventBase,
    GroupRecorded,
    Role,
    SchoolRecorded,
    StudentEnrolled,
    StudentUnenrolled,
    UserRecorded,
)
from services.keys import roster_rules
from services.keys.domain import NewId
from services.keys.errors import InvalidInput, NotFound
from services.keys.rules import zone


@dataclass(frozen=True)
class SchoolRecord:
    school_id: str
    name: str
    time_zone: str
    language: str = "en"


@dataclass(frozen=True)
class GroupRecord:
    group_id: str
    school_id: str
    name: str
    student_ids: tuple[str, ...] | None = None
    # The roster's dates of some memberships (student id -> dates); others are undated.
    dates: Mapping[str, EnrolmentDates] = field(default_factory=dict)


@dataclass(frozen=True)
class UserRecord:
    user_id: str
    role: Role
    given_name: str
    family_name: str
    school_ids: tuple[str, ...]
    email: str | None = None
    active: bool = True
    account: str | None = None
    roster_role: str | None = None  # None: keep what the directory has


@dataclass(frozen=True)
class SkippedRow:
    """A row of a bulk file that was not imported, and why."""

    file: str
    line: int
    row_id: str
    reason: str


@dataclass(frozen=True)
class Snapshot:
    """The directory as a source (a JSON body, a OneRoster export) describes it."""

    schools: Sequence[SchoolRecord] = ()
    groups: Sequence[GroupRecord] = ()
    users: Sequence[UserRecord] = ()
    # True: the snapshot describes its schools fully (users and groups it lacks are gone).
    complete: bool = False
    # Users the source marks as deleted: user id -> why (they are gone, as if absent).
    removed: Mapping[str, str] = field(default_factory=dict)
    skipped: Sequence[SkippedRow] = ()


@dataclass
class Diff:
    """Events in the order they must be applied, with the stream each belongs to, and whose
    access ends: ``unenrolled`` (user, group, reason) loses that group's key, ``ended`` (user,
    reason, schools or None for all) loses their keys of those schools."""

    events: list[tuple[str, EventBase]] = field(default_factory=list)
    unenrolled: list[tuple[str, str, str]] = field(default_factory=list)
    ended: list[tuple[str, str, frozenset[str] | None]] = field(default_factory=list)

    def add(self, stream_id: str, event: EventBase) -> None:
        self.events.append((stream_id, event))


def diff(
    directory: Directory, snapshot: Snapshot, admin: Admin, now: datetime, new_id: NewId
) -> Diff:
    """Check scope and references, then list the events for everything that changed."""
    check(directory, snapshot, admin)
    out = Diff()
    for school in snapshot.schools:
        _school(directory, school, out, now, new_id)
    for user in snapshot.users:
        _user(directory, user, out, now, new_id)
    for group in snapshot.groups:
        _group(directory, group, out, now, new_id)
    roster_rules.access_ends(directory, snapshot, out, now, new_id)
    return out


def _school(
    directory: Directory, rec: SchoolRecord, out: Diff, now: datetime, new_id: NewId
) -> None:
    old = directory.schools.get(rec.school_id)
    if old is not None and (old.name, old.time_zone, old.language) == (
        rec.name,
        rec.time_zone,
        rec.language,
    ):
        return
    event = SchoolRecorded(
        event_id=new_id(),
        occurred_at=now,
        school_id=rec.school_id,
        name=rec.name,
        time_zone=rec.time_zone,
        language="nl" if rec.language == "nl" else "en",
    )
    out.add(f"school:{rec.school_id}", event)


def _user(directory: Directory, rec: UserRecord, out: Diff, now: datetime, new_id: NewId) -> None:
    old, stream = directory.users.get(rec.user_id), f"user:{rec.user_id}"
    roster_role = rec.roster_role or (old.roster_role if old else None)
    fields = (rec.role, rec.given_name, rec.family_name, rec.email, rec.school_ids, rec.active)
    if old is None or (*fields, roster_role) != (
        old.role,
        old.given_name,
        old.family_name,
        old.email,
        tuple(old.school_ids),
        old.active,
        old.roster_role,
    ):
        event = UserRecorded(
            event_id=new_id(),
            occurred_at=now,
            user_id=rec.user_id,
            role=rec.role,
            given_name=rec.given_name,
            family_name=rec.family_name,
            email=rec.email,
            school_ids=rec.school_ids,
            active=rec.active,
            roster_role=roster_role,
        )
        out.add(stream, event)
    account = old.account if old else None
    if rec.account is not None and rec.account != account:
        out.add(
            stream,
            AccountLinked(
                event_id=new_id(), occurred_at=now, user_id=rec.user_id, account=rec.account
            ),
        )
    elif rec.account is None and account is not None:
        out.add(stream, AccountUnlinked(event_id=new_id(), occurred_at=now, user_id=rec.user_id))


def _group(directory: Directory, rec: GroupRecord, out: Diff, now: datetime, new_id: NewId) -> None:
    old = directory.groups.get(rec.group_id)
    if old is None or (old.school_id, old.name) != (rec.school_id, rec.name):
        event = GroupRecorded(
            event_id=new_id(),
            occurred_at=now,
            group_id=rec.group_id,
            school_id=rec.school_id,
            name=rec.name,
        )
        out.add(f"group:{rec.group_id}", event)
    if rec.student_ids is None:
        return
    members = old.members if old else set()
    undated = EnrolmentDates()
    wanted = {s for s in rec.student_ids if rec.dates.get(s, undated).holds(now)}
    for user_id in sorted(wanted - members):
        enrolled = StudentEnrolled(
            event_id=new_id(), occurred_at=now, user_id=user_id, group_id=rec.group_id
        )
        out.add(f"user:{user_id}", enrolled)
    for user_id in sorted(members - wanted):
        left = StudentUnenrolled(
            event_id=new_id(), occurred_at=now, user_id=user_id, group_id=rec.group_id
        )
        out.add(f"user:{user_id}", left)
        why = roster_rules.leaving_reason(rec, user_id, now)
        out.unenrolled.append((user_id, rec.group_id, why))
    roster_rules.record_dates(directory, rec, out, now, new_id)


def check(directory: Directory, snapshot: Snapshot, admin: Admin) -> None:
    """Every record is in the administrator's scope and refers to things that exist."""
    schools = set(directory.schools) | {s.school_id for s in snapshot.schools}
    for school in snapshot.schools:
        _in_scope(admin, school.school_id)
        zone(school.time_zone)
    roles = {u.user_id: u.role for u in directory.users.values()}
    for user in snapshot.users:
        _check_user(directory, admin, user, schools)
        roles[user.user_id] = user.role
    for group in snapshot.groups:
        _check_group(directory, admin, group, schools, roles)


def _in_scope(admin: Admin, school_id: str) -> None:
    if not admin.sees(school_id):
        raise NotFound(f"There is no school {school_id!r}.")


def _check_user(directory: Directory, admin: Admin, user: UserRecord, schools: set[str]) -> None:
    if not user.school_ids:
        raise InvalidInput(f"User {user.user_id!r} has no school.")
    old = directory.users.get(user.user_id)
    if old is not None and not any(admin.sees(s) for s in old.school_ids):
        raise NotFound(f"There is no user {user.user_id!r}.")
    for school_id in user.school_ids:
        _in_scope(admin, school_id)
        if school_id not in schools:
            raise InvalidInput(f"User {user.user_id!r} refers to unknown school {school_id!r}.")


def _check_group(
    directory: Directory,
    admin: Admin,
    group: GroupRecord,
    schools: set[str],
    roles: dict[str, Role],
) -> None:
    old = directory.groups.get(group.group_id)
    if old is not None and not admin.sees(old.school_id):
        raise NotFound(f"There is no group {group.group_id!r}.")
    _in_scope(admin, group.school_id)
    if group.school_id not in schools:
        raise InvalidInput(
            f"Group {group.group_id!r} refers to unknown school {group.school_id!r}."
        )
    for user_id in group.student_ids or ():
        if roles.get(user_id) is not Role.STUDENT:
            what = "unknown user" if user_id not in roles else "not a student"
            raise InvalidInput(f"Group {group.group_id!r} lists {user_id!r}, which is {what}.")
