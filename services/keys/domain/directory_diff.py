"""Directory import as a diff: the events that turn the current directory into the given one.

Pure. Importing the same records twice yields no events the second time. Records are full
descriptions: a user without ``account`` is unlinked; a group's ``student_ids`` (when given)
is its whole membership, so a student missing from it is unenrolled; a student whose
enrolment dates do not hold at ``now`` is not (yet, or no longer) a member. A ``complete``
snapshot (a OneRoster zip) also describes its schools fully: what it leaves out is gone
(``services.keys.domain.roster_rules``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
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
from services.keys.domain import roster_rules
from services.keys.domain.keys import NewId
from services.keys.domain.rules import zone
from services.keys.errors import InvalidInput, NotFound


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
    described = describes(snapshot, admin)
    out = Diff()
    for school in snapshot.schools:
        _school(directory, school, out, now, new_id)
    for user in snapshot.users:
        _user(directory, _with_other_schools(directory, user, described), out, now, new_id)
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


def describes(snapshot: Snapshot, admin: Admin) -> Callable[[str], bool]:
    """Whether the import describes a user's membership of a school: only schools in the
    administrator's scope and, for a complete snapshot (a OneRoster zip), only its schools."""
    covered = {s.school_id for s in snapshot.schools}
    return lambda school_id: (
        admin.sees(school_id) and (not snapshot.complete or school_id in covered)
    )


def _with_other_schools(
    directory: Directory, rec: UserRecord, described: Callable[[str], bool]
) -> UserRecord:
    # An import describes a user's memberships in the schools it covers only: the others stay
    # as they are, so a shared user is never taken out of a school the import says nothing of.
    old = directory.users.get(rec.user_id)
    if old is None:
        return rec
    kept = tuple(s for s in old.school_ids if not described(s) or s in rec.school_ids)
    return replace(rec, school_ids=kept + tuple(s for s in rec.school_ids if s not in kept))


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
    if old is not None:
        _leave_groups_of_schools_left(directory, old.group_ids, rec, out, now=now, new_id=new_id)
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


def _leave_groups_of_schools_left(
    directory: Directory,
    group_ids: set[str],
    rec: UserRecord,
    out: Diff,
    *,
    now: datetime,
    new_id: NewId,
) -> None:
    # A student who leaves a school leaves its groups too: a group holds only its school's
    # students, so its keys and sheets never reach someone outside the school.
    for group_id in sorted(group_ids):
        if directory.school_of_group(group_id) in rec.school_ids:
            continue
        left = StudentUnenrolled(
            event_id=new_id(), occurred_at=now, user_id=rec.user_id, group_id=group_id
        )
        out.add(f"user:{rec.user_id}", left)
        school = directory.school_of_group(group_id)
        out.unenrolled.append(
            (rec.user_id, group_id, f"roster: left school {school} of group {group_id}")
        )


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
        if any((u, g) == (user_id, rec.group_id) for u, g, _ in out.unenrolled):
            continue  # already left with the school (see _leave_groups_of_schools_left)
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
    people = {u.user_id: (u.role, set(u.school_ids)) for u in directory.users.values()}
    described = describes(snapshot, admin)
    for user in snapshot.users:
        _check_user(directory, admin, user, schools)
        kept = {s for s in people.get(user.user_id, (user.role, set()))[1] if not described(s)}
        people[user.user_id] = (user.role, kept | set(user.school_ids))
    for group in snapshot.groups:
        _check_group(directory, admin, group, schools, people)


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
    people: dict[str, tuple[Role, set[str]]],
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
        _check_member(admin, group, user_id, people.get(user_id))


def _check_member(
    admin: Admin, group: GroupRecord, user_id: str, person: tuple[Role, set[str]] | None
) -> None:
    # Someone outside the administrator's schools does not exist for it, so enrolling them
    # (and then reading their name through the group) is refused as if they were unknown.
    if person is None or not any(admin.sees(s) for s in person[1]):
        raise NotFound(f"There is no user {user_id!r} (listed in group {group.group_id!r}).")
    role, school_ids = person
    if role is not Role.STUDENT:
        raise InvalidInput(f"Group {group.group_id!r} lists {user_id!r}, which is not a student.")
    if group.school_id not in school_ids:
        raise InvalidInput(
            f"Group {group.group_id!r} belongs to school {group.school_id!r}, but student "
            f"{user_id!r} is not in that school; add the school to the student first."
        )
