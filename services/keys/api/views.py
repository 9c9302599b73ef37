"""Read-model rows as the Coding page shows them: people with their key, budget and spend."""

from __future__ import annotations

from datetime import datetime

from contracts.directory import Admin, Group, User
from contracts.events import Role
from contracts.money import micro_to_usd
from services.keys.api.schemas import (
    ELSEWHERE,
    GroupOut,
    KeyBrief,
    KeyOut,
    PersonRow,
    RowStatus,
    SchoolOut,
)
from services.keys.domain.keys import KeyState, Status
from services.keys.domain.projection import ReadModel
from services.keys.domain.scope import user_visible


def key_out(model: ReadModel, key: KeyState, now: datetime) -> KeyOut:
    """A key with its status at ``now`` and its spend in the current period."""
    return KeyOut(
        key_id=key.key_id,
        key_hint=key.key_hint,
        user_id=key.user_id,
        role=key.role,
        school_id=key.school_id,
        group_id=key.group_id,
        status=key.status(now),
        budget_usd=micro_to_usd(key.budget_micro_usd),
        used_usd=micro_to_usd(model.spent_this_period(key)),
        renewal=key.renewal,
        period_start=key.period_start,
        valid_from=key.valid_from,
        valid_until=key.valid_until,
        issued_at=key.issued_at,
        issued_by=key.issued_by,
    )


def person_row(model: ReadModel, admin: Admin, user: User, now: datetime) -> PersonRow:
    """A user with linked state and their latest key as ``admin`` may see it: a key issued by
    a school out of scope shows only as ``elsewhere`` while it is live, else as ``none``."""
    key = model.current_key(user.user_id)
    status: RowStatus = Status.NONE if key is None else key.status(now)
    if key is not None and not admin.sees(key.school_id):
        status = ELSEWHERE if key.holds_slot(now) else Status.NONE
        key = None
    return PersonRow(
        user_id=user.user_id,
        name=user.name,
        role=user.role,
        roster_role=user.roster_role,
        email=user.email,
        school_ids=[s for s in user.school_ids if admin.sees(s)],
        group_ids=sorted(
            g for g in user.group_ids if admin.sees(model.directory.school_of_group(g))
        ),
        linked=user.linked,
        active=user.active,
        key_status=status,
        key=None if key is None else key_out(model, key, now),
    )


def _by_name(users: list[User]) -> list[User]:
    return sorted(
        users, key=lambda u: (u.family_name.casefold(), u.given_name.casefold(), u.user_id)
    )


def staff_rows(
    model: ReadModel, admin: Admin, school_id: str | None, now: datetime
) -> list[PersonRow]:
    """Staff in the administrator's scope (optionally of one school), by name."""
    staff = [
        u
        for u in model.directory.users.values()
        if u.role is Role.STAFF
        and user_visible(admin, u)
        and (school_id is None or school_id in u.school_ids)
    ]
    return [person_row(model, admin, u, now) for u in _by_name(staff)]


def student_rows(model: ReadModel, admin: Admin, group: Group, now: datetime) -> list[PersonRow]:
    """The group's students, by name."""
    users = model.directory.users
    members = _by_name([users[m] for m in group.members if m in users])
    return [person_row(model, admin, u, now) for u in members]


def schools_out(model: ReadModel, admin: Admin) -> list[SchoolOut]:
    """Schools in scope, by name."""
    schools = [s for s in model.directory.schools.values() if admin.sees(s.school_id)]
    return [
        SchoolOut(school_id=s.school_id, name=s.name, time_zone=s.time_zone, language=s.language)
        for s in sorted(schools, key=lambda s: (s.name, s.school_id))
    ]


def groups_out(model: ReadModel, admin: Admin, school_id: str | None) -> list[GroupOut]:
    """Groups in scope (optionally of one school), by name."""
    groups = [
        g
        for g in model.directory.groups.values()
        if admin.sees(g.school_id) and (school_id is None or g.school_id == school_id)
    ]
    return [
        GroupOut(group_id=g.group_id, school_id=g.school_id, name=g.name, students=len(g.members))
        for g in sorted(groups, key=lambda g: (g.name, g.group_id))
    ]


def brief(user: User, key: KeyState) -> KeyBrief:
    """Who holds a key, and its hint."""
    return KeyBrief(user_id=user.user_id, name=user.name, key_id=key.key_id, key_hint=key.key_hint)
