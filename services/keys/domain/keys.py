"""Keys: state, ``decide(state, command, now, new_id) -> [events]`` and ``evolve``; pure."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

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
    valid_from: datetime | None
    valid_until: datetime | None
    changed_by: str


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
    if isinstance(command, RevokeKey):
        return [_revoked(state.key_id, command.revoked_by, command.reason, now, new_id)]
    if isinstance(command, ChangeBudget):
        return _change_budget(state, command, now, new_id)
    return _change_validity(state, command, now, new_id)


def _issue(
    current: KeyState | None, command: IssueKey, now: datetime, new_id: NewId
) -> list[EventBase]:
    if not command.user_active:
        raise Conflict(
            f"User {command.user_id} is disabled in the roster (left the school, or switched "
            "off by it); a disabled user gets no key until the roster enables them again."
        )
    if not command.user_linked:
        raise Conflict(
            f"User {command.user_id} has no linked account; link an account before issuing a key."
        )
    if command.valid_until is not None and command.valid_until <= now:
        raise InvalidInput(f"valid_until ({command.valid_until.isoformat()}) is in the past.")
    events: list[EventBase] = []
    if current is not None and current.holds_slot(now):
        if current.school_id != command.school_id:
            # A key belongs to the school that issued it: only that school may replace it.
            raise Conflict(
                f"User {command.user_id} already has a key issued by another school; only "
                "that school can replace or revoke it."
            )
        if not command.replace:
            raise Conflict(
                f"User {command.user_id} already has an active key ({current.key_id}, "
                f"{current.key_hint}); revoke it or send replace: true."
            )
        reason = f"replaced by key {command.key_id}"
        events.append(_revoked(current.key_id, command.issued_by, reason, now, new_id))
    events.append(_issued(command, now, new_id))
    return events


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
