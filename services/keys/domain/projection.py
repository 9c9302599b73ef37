"""The keys service's read side: directory, keys and stream versions, kept in memory.

Built from the event store at start-up and advanced after every append (ours, or another
replica's, announced by NOTIFY); spend comes from ``USAGE`` via ``Spend``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime

from contracts.directory import Directory
from contracts.events import (
    AdminCreated,
    AdminRevoked,
    BudgetRenewed,
    EventBase,
    KeyIssued,
    RequestMetered,
)
from services.keys.domain.keys import KeyState, evolve


@dataclass
class Spend:
    """Spend per key from ``RequestMetered``; only what can still count is kept."""

    entries: dict[uuid.UUID, list[tuple[datetime, int]]] = field(default_factory=dict)
    floors: dict[uuid.UUID, datetime] = field(default_factory=dict)

    def apply(self, event: EventBase) -> None:
        """Record a metered request's cost under its key."""
        if isinstance(event, RequestMetered) and event.cost_micro_usd:
            floor = self.floors.get(event.key_id)
            if floor is None or event.at >= floor:
                self.entries.setdefault(event.key_id, []).append((event.at, event.cost_micro_usd))

    def forget_before(self, key_id: uuid.UUID, start: datetime) -> None:
        """A new period began: earlier spend never counts again."""
        self.floors[key_id] = start
        kept = [(at, cost) for at, cost in self.entries.get(key_id, []) if at >= start]
        self.entries[key_id] = kept

    def since(self, key_id: uuid.UUID, start: datetime) -> int:
        """Micro-USD spent with this key at or after ``start``."""
        return sum(cost for at, cost in self.entries.get(key_id, []) if at >= start)


@dataclass(frozen=True)
class AdminRecord:
    """An administrator as listed: never its token or the token's hash."""

    admin_id: str
    name: str
    school_ids: frozenset[str] | None
    created_at: datetime
    revoked: bool = False


@dataclass
class ReadModel:
    """Everything the API and the renewal schedule read, at event-store ``position``."""

    directory: Directory = field(default_factory=Directory)
    keys: dict[uuid.UUID, KeyState] = field(default_factory=dict)
    latest_key_of_user: dict[str, uuid.UUID] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    admins: dict[str, AdminRecord] = field(default_factory=dict)
    spend: Spend = field(default_factory=Spend)
    position: int = 0

    def apply(self, position: int, stream_id: str, version: int, event: EventBase) -> None:
        """Apply one committed event (idempotent by position)."""
        if position <= self.position:
            return
        self.position = position
        self.versions[stream_id] = version
        self.directory.apply(event)
        self._apply_admin(event)
        key_id = getattr(event, "key_id", None)
        if isinstance(key_id, uuid.UUID):
            self._apply_key(key_id, event)

    def _apply_admin(self, event: EventBase) -> None:
        if isinstance(event, AdminCreated):
            scope = None if event.school_ids is None else frozenset(event.school_ids)
            record = AdminRecord(event.admin_id, event.name, scope, event.occurred_at)
            self.admins[event.admin_id] = record
        elif isinstance(event, AdminRevoked) and event.admin_id in self.admins:
            self.admins[event.admin_id] = replace(self.admins[event.admin_id], revoked=True)

    def _apply_key(self, key_id: uuid.UUID, event: EventBase) -> None:
        state = evolve(self.keys.get(key_id), event)
        if state is None:
            return
        self.keys[key_id] = state
        if isinstance(event, KeyIssued):
            self.latest_key_of_user[event.user_id] = key_id
        if isinstance(event, BudgetRenewed):
            self.spend.forget_before(key_id, event.period_start)

    def version(self, stream_id: str) -> int:
        """The stream's version as last seen (0: no events)."""
        return self.versions.get(stream_id, 0)

    def current_key(self, user_id: str) -> KeyState | None:
        """The user's most recently issued key, whatever its status."""
        key_id = self.latest_key_of_user.get(user_id)
        return None if key_id is None else self.keys[key_id]

    def spent_this_period(self, key: KeyState) -> int:
        """Micro-USD spent with the key since its current period began."""
        return self.spend.since(key.key_id, key.period_start)
