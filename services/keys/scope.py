"""What an administrator may see: outside its schools a thing does not exist. Pure."""

from __future__ import annotations

import uuid

from contracts.directory import Admin, Group, School, User
from services.keys.domain import KeyState
from services.keys.errors import NotFound
from services.keys.projection import ReadModel


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
