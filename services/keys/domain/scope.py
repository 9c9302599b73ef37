"""What an administrator may see: outside its schools a thing does not exist. Pure."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from contracts.directory import Admin, Group, School, User
from services.keys.domain.keys import KeyState
from services.keys.domain.projection import AdminRecord, ReadModel
from services.keys.errors import Conflict, Forbidden, InvalidInput, NotFound


def user_visible(admin: Admin, user: User) -> bool:
    """True when one of the user's schools is in scope."""
    return any(admin.sees(s) for s in user.school_ids)


def visible_user(model: ReadModel, admin: Admin, user_id: str) -> User:
    """The user, or NotFound when unknown or out of scope."""
    user = model.directory.users.get(user_id)
    if user is None or not user_visible(admin, user):
        raise NotFound(f"There is no user {user_id!r}.")
    return user


def visible_group(model: ReadModel, admin: Admin, group_id: str) -> Group:
    """The group, or NotFound when unknown or out of scope."""
    group = model.directory.groups.get(group_id)
    if group is None or not admin.sees(group.school_id):
        raise NotFound(f"There is no group {group_id!r}.")
    return group


def visible_school(model: ReadModel, admin: Admin, school_id: str) -> School:
    """The school, or NotFound when unknown or out of scope."""
    school = model.directory.schools.get(school_id)
    if school is None or not admin.sees(school_id):
        raise NotFound(f"There is no school {school_id!r}.")
    return school


def visible_key(model: ReadModel, admin: Admin, key_id: uuid.UUID) -> KeyState:
    """The key, or NotFound when unknown or out of scope."""
    key = model.keys.get(key_id)
    if key is None or not admin.sees(key.school_id):
        raise NotFound(f"There is no key {key_id}.")
    return key


def admin_visible(admin: Admin, scope: frozenset[str] | None) -> bool:
    """True when ``scope`` lies within the administrator's own (all schools: everything)."""
    if admin.school_ids is None:
        return True
    return scope is not None and scope <= admin.school_ids


def visible_admin(model: ReadModel, admin: Admin, admin_id: str) -> AdminRecord:
    """The administrator, or NotFound when unknown or its scope is not within the caller's."""
    record = model.admins.get(admin_id)
    if record is None or not admin_visible(admin, record.school_ids):
        raise NotFound(f"There is no administrator {admin_id!r}.")
    return record


def new_admin_scope(
    model: ReadModel, admin: Admin, name: str, school_ids: Sequence[str] | None
) -> tuple[str, frozenset[str] | None]:
    """The stripped name and scope of a new administrator, if ``admin`` may create it."""
    if not name.strip():
        raise InvalidInput("name must not be empty: say who this administrator is.")
    if school_ids is None:
        if admin.school_ids is not None:
            raise Forbidden(
                "An administrator scoped to some schools cannot create an all-schools"
                " administrator; ask an all-schools administrator."
            )
        return name.strip(), None
    if not school_ids:
        raise InvalidInput("school_ids must name at least one school, or be null for all.")
    for school_id in school_ids:
        visible_school(model, admin, school_id)
    return name.strip(), frozenset(school_ids)


def check_revocable(model: ReadModel, target: AdminRecord) -> list[AdminRecord]:
    """The other active all-schools administrators; refuse when revoking leaves none."""
    if target.revoked:
        raise Conflict(f"Administrator {target.admin_id!r} is already revoked.")
    others = [
        a
        for a in model.admins.values()
        if a.school_ids is None and not a.revoked and a.admin_id != target.admin_id
    ]
    if target.school_ids is None and not others:
        raise Conflict(
            f"Administrator {target.admin_id!r} is the last all-schools administrator;"
            " create another all-schools administrator first, so every school keeps one."
        )
    return others
