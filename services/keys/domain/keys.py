"""Keys: state, ``decide(state, command, now, new_id) -> [events]`` and ``evolve``; pure."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import assert_never

from contracts.events import (
    BudgetChanged,
    BudgetRenewed,
    EventBase,
    KeyIssued,
    KeyRevoked,
    Renewal,
    Role,
    ValidityChanged,
)
from contracts.validity import window_position
from services.keys.errors import Conflict, InvalidInput

NewId = Callable[[], uuid.UUID]


class Status(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    NONE = "none"


@dataclass(frozen=True)
class KeyState:
    """One key as its events left it."""

    key_id: uuid.UUID
    key_hint: str
    user_id: str
    role: Role
    school_id: str
    group_id: str | None
    budget_micro_usd: int
    renewal: Renewal
    period_start: datetime
    valid_from: datetime | None
    valid_until: datetime | None
    issued_at: datetime
    issued_by: str
    revoked: bool = False

    def status(self, now: datetime) -> Status:
        """Revoked, expired, not yet valid or active, in that order of precedence."""
        if self.revoked:
            return Status.REVOKED
        return Status(window_position(self.valid_from, self.valid_until, now).value)

    def holds_slot(self, now: datetime) -> bool:
        """True while this key counts as the user's one key (active or not yet valid)."""
        return self.status(now) in (Status.ACTIVE, Status.NOT_YET_VALID)


@dataclass(frozen=True)
class IssueKey:
    """Make a key for a user; ``replace`` revokes the user's current key in the same step."""

    key_id: uuid.UUID
    key_hash: str
    key_hint: str
    user_id: str
    user_linked: bool
    role: Role
    school_id: str
    group_id: str | None
    budget_micro_usd: int
    renewal: Renewal
    valid_from: datetime | None
    valid_until: datetime | None
    batch_id: uuid.UUID | None
    issued_by: str
    replace: bool = False
    user_active: bool = True


@dataclass(frozen=True)
class RevokeKey:
    revoked_by: str
    reason: str


@dataclass(frozen=True)
class ChangeBudget:
    budget_micro_usd: int
    renewal: Renewal
    changed_by: str


@dataclass(frozen=True)
class ChangeValidity:
    """A new window. ``latest_key_id``: the user's most recent key (None: this one); only
    that key's window may change, as an older key made live again would be a second one."""

    valid_from: datetime | None
    valid_until: datetime | None
    changed_by: str
    latest_key_id: uuid.UUID | None = None


@dataclass(frozen=True)
class RenewBudget:
    """Start the period beginning at ``boundary`` unless the key's period already has."""

    boundary: datetime


Command = IssueKey | RevokeKey | ChangeBudget | ChangeValidity | RenewBudget


def decide(
    state: KeyState | None, command: Command, now: datetime, new_id: NewId
) -> list[EventBase]:
    """The events a command produces; for ``IssueKey`` the state is the user's latest key."""
    if isinstance(command, IssueKey):
        return _issue(state, command, now, new_id)
    if state is None:
        raise Conflict("There is no such key.")
    if isinstance(command, RenewBudget):
        return _renew(state, command, now, new_id)
    if state.revoked:
        raise Conflict(f"Key {state.key_id} is revoked; a revoked key cannot be changed.")
    match command:
        case RevokeKey():
            return [_revoked(state.key_id, command.revoked_by, command.reason, now, new_id)]
        case ChangeBudget():
            return _change_budget(state, command, now, new_id)
        case ChangeValidity():
            return _change_validity(state, command, now, new_id)
        case _:
            assert_never(command)


class NoKey(StrEnum):
    """Why a user cannot get a new key now (the value: as a group's key sheet lists it)."""

    DISABLED = "disabled in the roster"
    UNLINKED = "no linked account"
    OTHER_SCHOOL = "already has a key from another school"
    HAS_KEY = "already has a key"


def why_no_key(
    current: KeyState | None, *, active: bool, linked: bool, school_id: str, now: datetime
) -> NoKey | None:
    """Why a user (``active``, ``linked``, latest key ``current``) gets no new key of
    ``school_id`` unless it replaces theirs; None: they may get one. One live key per user:
    a key that is active or not yet valid holds the user's slot."""
    if not active:
        return NoKey.DISABLED
    if not linked:
        return NoKey.UNLINKED
    if current is not None and current.holds_slot(now):
        # A key belongs to the school that issued it: only that school may replace it.
        return NoKey.OTHER_SCHOOL if current.school_id != school_id else NoKey.HAS_KEY
    return None


def check_window(valid_from: datetime | None, valid_until: datetime | None, now: datetime) -> None:
    """Reject an end before (or at) the start and an end in the past."""
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        raise InvalidInput(
            f"valid_until ({valid_until.isoformat()}) must be after "
            f"valid_from ({valid_from.isoformat()})."
        )
    if valid_until is not None and valid_until <= now:
        raise InvalidInput(f"valid_until ({valid_until.isoformat()}) is in the past.")


def _issue(
    current: KeyState | None, command: IssueKey, now: datetime, new_id: NewId
) -> list[EventBase]:
    reason = why_no_key(
        current,
        active=command.user_active,
        linked=command.user_linked,
        school_id=command.school_id,
        now=now,
    )
    if reason is NoKey.DISABLED:
        raise Conflict(
            f"User {command.user_id} is disabled in the roster (left the school, or switched "
            "off by it); a disabled user gets no key until the roster enables them again."
        )
    if reason is NoKey.UNLINKED:
        raise Conflict(
            f"User {command.user_id} has no linked account; link an account before issuing a key."
        )
    check_window(command.valid_from, command.valid_until, now)
    if reason is NoKey.OTHER_SCHOOL:
        raise Conflict(
            f"User {command.user_id} already has a key issued by another school; only "
            "that school can replace or revoke it."
        )
    if reason is None:
        return [_issued(command, now, new_id)]
    assert current is not None
    if not command.replace:
        raise Conflict(
            f"User {command.user_id} already has an active key ({current.key_id}, "
            f"{current.key_hint}); revoke it or send replace: true."
        )
    replaced = f"replaced by key {command.key_id}"
    return [
        _revoked(current.key_id, command.issued_by, replaced, now, new_id),
        _issued(command, now, new_id),
    ]


def _issued(command: IssueKey, now: datetime, new_id: NewId) -> KeyIssued:
    return KeyIssued(
        event_id=new_id(),
        occurred_at=now,
        key_id=command.key_id,
        key_hash=command.key_hash,
        key_hint=command.key_hint,
        user_id=command.user_id,
        role=command.role,
        school_id=command.school_id,
        group_id=command.group_id,
        budget_micro_usd=command.budget_micro_usd,
        renewal=command.renewal,
        period_start=now,
        valid_from=command.valid_from,
        valid_until=command.valid_until,
        batch_id=command.batch_id,
        issued_by=command.issued_by,
    )


def _revoked(key_id: uuid.UUID, by: str, reason: str, now: datetime, new_id: NewId) -> KeyRevoked:
    return KeyRevoked(
        event_id=new_id(), occurred_at=now, key_id=key_id, revoked_by=by, reason=reason
    )


def _renew(state: KeyState, command: RenewBudget, now: datetime, new_id: NewId) -> list[EventBase]:
    # Idempotent by construction: a second runner (or a retry) for the same boundary finds
    # the period already started and decides nothing.
    if state.revoked or state.renewal is Renewal.NONE or state.period_start >= command.boundary:
        return []
    if state.valid_until is not None and state.valid_until <= command.boundary:
        return []
    return [
        BudgetRenewed(
            event_id=new_id(),
            occurred_at=now,
            key_id=state.key_id,
            period_start=command.boundary,
            budget_micro_usd=state.budget_micro_usd,
        )
    ]


def _change_budget(
    state: KeyState, command: ChangeBudget, now: datetime, new_id: NewId
) -> list[EventBase]:
    if (command.budget_micro_usd, command.renewal) == (state.budget_micro_usd, state.renewal):
        return []
    return [
        BudgetChanged(
            event_id=new_id(),
            occurred_at=now,
            key_id=state.key_id,
            budget_micro_usd=command.budget_micro_usd,
            renewal=command.renewal,
            changed_by=command.changed_by,
        )
    ]


def _change_validity(
    state: KeyState, command: ChangeValidity, now: datetime, new_id: NewId
) -> list[EventBase]:
    check_window(command.valid_from, command.valid_until, now)
    if command.latest_key_id not in (None, state.key_id):
        raise Conflict(
            f"Key {state.key_id} is not the user's latest key ({command.latest_key_id}); "
            "only the latest key's window can change."
        )
    if (command.valid_from, command.valid_until) == (state.valid_from, state.valid_until):
        return []
    return [
        ValidityChanged(
            event_id=new_id(),
            occurred_at=now,
            key_id=state.key_id,
            valid_from=command.valid_from,
            valid_until=command.valid_until,
            changed_by=command.changed_by,
        )
    ]


def evolve(state: KeyState | None, event: EventBase) -> KeyState | None:
    """The key after one of its events; other events leave it unchanged."""
    match event:
        case KeyIssued():
            return _from_issued(event)
        case _ if state is None:
            return None
        case KeyRevoked():
            state = replace(state, revoked=True)
        case BudgetRenewed():
            state = replace(state, period_start=event.period_start)
        case BudgetChanged():
            state = replace(state, budget_micro_usd=event.budget_micro_usd, renewal=event.renewal)
        case ValidityChanged():
            state = replace(state, valid_from=event.valid_from, valid_until=event.valid_until)
    return state


def _from_issued(event: KeyIssued) -> KeyState:
    return KeyState(
        key_id=event.key_id,
        key_hint=event.key_hint,
        user_id=event.user_id,
        role=event.role,
        school_id=event.school_id,
        group_id=event.group_id,
        budget_micro_usd=event.budget_micro_usd,
        renewal=event.renewal,
        period_start=event.period_start,
        valid_from=event.valid_from,
        valid_until=event.valid_until,
        issued_at=event.occurred_at,
        issued_by=event.issued_by,
    )
