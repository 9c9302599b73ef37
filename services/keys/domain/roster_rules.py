"""The roster drives access: dated memberships, and what a complete roster leaves out. Pure.

- A membership with dates exists only while they hold (``EnrolmentDates.holds``); the dates
  are recorded (``EnrolmentDatesRecorded``) so the roster schedule can enrol a student when
  the begin comes and unenrol them when the end comes, without an administrator.
- A user an import disables or unlinks loses their keys; so does, for a ``complete``
  snapshot (a OneRoster zip, which describes its schools fully), a user it leaves out or
  marks deleted, and the students of a group it leaves out lose that group's key.

Every reason starts with ``roster:`` so a key's history says the roster ended it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from contracts.directory import Directory, EnrolmentDates, Group, User
from contracts.events import (
    AccountUnlinked,
    EnrolmentDatesRecorded,
    StudentEnrolled,
    StudentUnenrolled,
    UserRecorded,
)

if TYPE_CHECKING:
    from services.keys.domain.directory_diff import Diff, GroupRecord, Snapshot, UserRecord
    from services.keys.domain.keys import NewId

UNDATED = EnrolmentDates()
ABSENT = "roster: no longer in the roster file"
DISABLED = "roster: user disabled"
UNLINKED = "roster: account unlinked"


def leaving_reason(rec: GroupRecord, user_id: str, now: datetime) -> str:
    """Why a student leaves the group ``rec`` describes: their dates, or not being listed."""
    where = f"group {rec.name} ({rec.group_id})"
    dates = rec.dates.get(user_id)
    if dates is None or user_id not in (rec.student_ids or ()):
        return f"roster: left {where}"
    if dates.ends_at is not None and dates.ends_at <= now:
        return f"roster: enrolment in {where} ended"
    return f"roster: enrolment in {where} has not begun"


def _effective(dates: EnrolmentDates, stored: EnrolmentDates, now: datetime) -> EnrolmentDates:
    # An enrolment that has ended needs no schedule (the import itself ends the membership),
    # so it is not recorded; dates already recorded stay, so importing again changes nothing.
    ended = dates.ends_at is not None and dates.ends_at <= now
    return UNDATED if ended and dates != stored else dates


def record_dates(
    directory: Directory, rec: GroupRecord, out: Diff, now: datetime, new_id: NewId
) -> None:
    """Record changed dates of the group's memberships; forget those of students not listed."""
    listed = set(rec.student_ids or ())
    for user_id in sorted(listed):
        pair = (user_id, rec.group_id)
        stored = directory.dates_of(user_id, rec.group_id)
        dates = _effective(rec.dates.get(user_id, UNDATED), stored, now)
        _set_dates(directory, pair, dates, out=out, now=now, new_id=new_id)
    _forget_dates(directory, rec.group_id, listed, out=out, now=now, new_id=new_id)


def _forget_dates(
    directory: Directory, group_id: str, keep: set[str], *, out: Diff, now: datetime, new_id: NewId
) -> None:
    for user_id in sorted(directory.enrolment_dates.get(group_id, {})):
        if user_id not in keep:
            _set_dates(directory, (user_id, group_id), UNDATED, out=out, now=now, new_id=new_id)


def _set_dates(
    directory: Directory,
    pair: tuple[str, str],
    dates: EnrolmentDates,
    *,
    out: Diff,
    now: datetime,
    new_id: NewId,
) -> None:
    user_id, group_id = pair
    if directory.dates_of(user_id, group_id) == dates:
        return
    event = EnrolmentDatesRecorded(
        event_id=new_id(),
        occurred_at=now,
        user_id=user_id,
        group_id=group_id,
        begins_at=dates.begins_at,
        ends_at=dates.ends_at,
    )
    out.add(f"user:{user_id}", event)


def lost_access(rec: UserRecord) -> str | None:
    """Why a user as recorded may hold no key (disabled, or no linked account), or None."""
    if not rec.active:
        return DISABLED
    if rec.account is None:
        return UNLINKED
    return None


def access_ends(
    directory: Directory, snapshot: Snapshot, out: Diff, now: datetime, new_id: NewId
) -> None:
    """Whose access the snapshot ends; for a complete one, remove what it leaves out."""
    for rec in snapshot.users:
        why = lost_access(rec)
        if why is not None:
            out.ended.append((rec.user_id, why, None))
    if not snapshot.complete:
        return
    covered = frozenset(s.school_id for s in snapshot.schools)
    listed = {u.user_id for u in snapshot.users}
    for user in sorted(directory.users.values(), key=lambda u: u.user_id):
        if user.user_id not in listed and user.active and covered & set(user.school_ids):
            why = snapshot.removed.get(user.user_id, ABSENT)
            _remove_user(user, covered, why, out=out, now=now, new_id=new_id)
    groups = {g.group_id for g in snapshot.groups}
    for group in sorted(directory.groups.values(), key=lambda g: g.group_id):
        if group.school_id in covered and group.group_id not in groups:
            _empty_group(directory, group, out, now, new_id)


def _remove_user(
    user: User, covered: frozenset[str], why: str, *, out: Diff, now: datetime, new_id: NewId
) -> None:
    # A user of other schools too stays there; gone from every school means disabled.
    remaining = tuple(s for s in user.school_ids if s not in covered)
    stream = f"user:{user.user_id}"
    recorded = UserRecorded(
        event_id=new_id(),
        occurred_at=now,
        user_id=user.user_id,
        role=user.role,
        given_name=user.given_name,
        family_name=user.family_name,
        email=user.email,
        school_ids=remaining or user.school_ids,
        active=bool(remaining),
        roster_role=user.roster_role,
    )
    out.add(stream, recorded)
    if not remaining and user.account is not None:
        out.add(stream, AccountUnlinked(event_id=new_id(), occurred_at=now, user_id=user.user_id))
    out.ended.append((user.user_id, why, covered if remaining else None))


def _empty_group(
    directory: Directory, group: Group, out: Diff, now: datetime, new_id: NewId
) -> None:
    why = f"roster: group {group.name} ({group.group_id}) is no longer in the roster file"
    for user_id in sorted(group.members):
        left = StudentUnenrolled(
            event_id=new_id(), occurred_at=now, user_id=user_id, group_id=group.group_id
        )
        out.add(f"user:{user_id}", left)
        out.unenrolled.append((user_id, group.group_id, why))
    _forget_dates(directory, group.group_id, set(), out=out, now=now, new_id=new_id)


def next_bound(directory: Directory, now: datetime) -> datetime | None:
    """The earliest recorded begin or end after ``now`` (when the schedule next has work)."""
    bounds = [
        bound
        for users in directory.enrolment_dates.values()
        for dates in users.values()
        for bound in (dates.begins_at, dates.ends_at)
        if bound is not None and bound > now
    ]
    return min(bounds, default=None)


def due_memberships(directory: Directory, now: datetime, out: Diff, new_id: NewId) -> None:
    """Enrol students whose dates began and unenrol those whose dates ended by ``now``."""
    dated = [(g, u, d) for g, users in directory.enrolment_dates.items() for u, d in users.items()]
    for group_id, user_id, dates in sorted(dated, key=lambda item: item[:2]):
        group = directory.groups.get(group_id)
        if group is None or user_id not in directory.users:
            continue
        should, member = dates.holds(now), user_id in group.members
        if should and not member:
            joined = StudentEnrolled(
                event_id=new_id(), occurred_at=now, user_id=user_id, group_id=group_id
            )
            out.add(f"user:{user_id}", joined)
        elif member and not should:
            left = StudentUnenrolled(
                event_id=new_id(), occurred_at=now, user_id=user_id, group_id=group_id
            )
            out.add(f"user:{user_id}", left)
            why = f"roster: enrolment in group {group.name} ({group_id}) ended"
            if dates.begins_at is not None and now < dates.begins_at:
                why = f"roster: enrolment in group {group.name} ({group_id}) has not begun"
            out.unenrolled.append((user_id, group_id, why))
