"""The directory as every service sees it: schools, groups, users, administrators.

A pure projection of the directory events in ``KEYS``: services apply events as they follow
the stream, then look up names, time zones and an administrator's scope without calling the
keys service. An administrator's token is checked by its HMAC, never stored in plaintext.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime

from contracts.apikeys import ADMIN_PREFIX, hash_secret
from contracts.events import (
    AccountLinked,
    AccountUnlinked,
    AdminCreated,
    AdminRevoked,
    EnrolmentDatesRecorded,
    EventBase,
    GroupRecorded,
    Role,
    SchoolRecorded,
    StudentEnrolled,
    StudentUnenrolled,
    UserRecorded,
)


@dataclass(frozen=True)
class Admin:
    """An administrator and the schools it may see (None: all schools)."""

    admin_id: str
    name: str
    school_ids: frozenset[str] | None

    def sees(self, school_id: str | None) -> bool:
        """True when the school is in this administrator's scope."""
        return self.school_ids is None or (school_id is not None and school_id in self.school_ids)


@dataclass
class School:
    school_id: str
    name: str
    time_zone: str
    language: str


@dataclass
class Group:
    group_id: str
    school_id: str
    name: str
    members: set[str] = field(default_factory=set)


@dataclass
class User:
    user_id: str
    role: Role
    given_name: str
    family_name: str
    email: str | None
    school_ids: tuple[str, ...]
    active: bool = True
    account: str | None = None
    group_ids: set[str] = field(default_factory=set)
    roster_role: str | None = None

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()

    @property
    def linked(self) -> bool:
        return self.account is not None


@dataclass(frozen=True)
class EnrolmentDates:
    """When a membership begins and ends (None: open); the end is exclusive."""

    begins_at: datetime | None = None
    ends_at: datetime | None = None

    def holds(self, now: datetime) -> bool:
        """True when ``now`` lies within the dates."""
        return (self.begins_at is None or self.begins_at <= now) and (
            self.ends_at is None or now < self.ends_at
        )

    @property
    def dated(self) -> bool:
        return self.begins_at is not None or self.ends_at is not None


@dataclass
class Directory:
    """Schools, groups, users and administrators, kept current by ``apply``."""

    schools: dict[str, School] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    admins_by_hash: dict[str, Admin] = field(default_factory=dict)
    # group_id -> user_id -> the roster's dates of that membership; undated ones are absent.
    enrolment_dates: dict[str, dict[str, EnrolmentDates]] = field(default_factory=dict)

    def apply(self, event: EventBase) -> None:
        """Apply one event; events that are not about the directory are ignored."""
        match event:
            case SchoolRecorded():
                self.schools[event.school_id] = School(
                    event.school_id, event.name, event.time_zone, event.language
                )
            case GroupRecorded():
                members = (
                    self.groups[event.group_id].members if event.group_id in self.groups else set()
                )
                self.groups[event.group_id] = Group(
                    event.group_id, event.school_id, event.name, members
                )
            case UserRecorded():
                self._record_user(event)
            case AccountLinked() if event.user_id in self.users:
                self.users[event.user_id].account = event.account
            case AccountUnlinked() if event.user_id in self.users:
                self.users[event.user_id].account = None
            case StudentEnrolled():
                self._enrol(event.user_id, event.group_id, add=True)
            case StudentUnenrolled():
                self._enrol(event.user_id, event.group_id, add=False)
            case EnrolmentDatesRecorded():
                self._date(event)
            case AdminCreated():
                scope = None if event.school_ids is None else frozenset(event.school_ids)
                self.admins_by_hash[event.token_hash] = Admin(event.admin_id, event.name, scope)
            case AdminRevoked():
                self.admins_by_hash = {
                    h: a for h, a in self.admins_by_hash.items() if a.admin_id != event.admin_id
                }

    def _record_user(self, event: UserRecorded) -> None:
        previous = self.users.get(event.user_id)
        self.users[event.user_id] = User(
            event.user_id,
            event.role,
            event.given_name,
            event.family_name,
            event.email,
            event.school_ids,
            event.active,
            previous.account if previous else None,
            previous.group_ids if previous else set(),
            event.roster_role,
        )

    def _date(self, event: EnrolmentDatesRecorded) -> None:
        dates = EnrolmentDates(event.begins_at, event.ends_at)
        group = self.enrolment_dates.setdefault(event.group_id, {})
        if dates.dated:
            group[event.user_id] = dates
        else:
            group.pop(event.user_id, None)
        if not group:
            del self.enrolment_dates[event.group_id]

    def dates_of(self, user_id: str, group_id: str) -> EnrolmentDates:
        """The roster's dates of a membership (no bounds when it has none)."""
        return self.enrolment_dates.get(group_id, {}).get(user_id, EnrolmentDates())

    def _enrol(self, user_id: str, group_id: str, *, add: bool) -> None:
        group, user = self.groups.get(group_id), self.users.get(user_id)
        if group is not None:
            (group.members.add if add else group.members.discard)(user_id)
        if user is not None:
            (user.group_ids.add if add else user.group_ids.discard)(group_id)

    def authenticate(self, token: str, server_secret: bytes) -> Admin | None:
        """The administrator holding this bearer token, or None."""
        if not token.startswith(ADMIN_PREFIX):
            return None
        digest = hash_secret(token, server_secret)
        for known, admin in self.admins_by_hash.items():
            if hmac.compare_digest(known, digest):
                return admin
        return None

    def school_of_group(self, group_id: str) -> str | None:
        group = self.groups.get(group_id)
        return group.school_id if group else None
