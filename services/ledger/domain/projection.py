"""What the ledger knows from ``KEYS``: the directory (names, admins) and each key's owner; pure."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts.directory import Directory
from contracts.events import BudgetChanged, BudgetRenewed, EventBase, KeyIssued, KeyRevoked, Renewal

UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True)
class KeyFacts:
    """Who a key belongs to, and the hint that names it in reports."""

    key_id: UUID
    hint: str
    user_id: str
    school_id: str
    group_id: str | None
    budget_micro_usd: int = 0
    renewal: Renewal = Renewal.NONE
    period_start: datetime | None = None
    revoked: bool = False


@dataclass
class KeysView:
    """The directory plus key facts, kept current by ``apply``."""

    directory: Directory = field(default_factory=Directory)
    keys: dict[UUID, KeyFacts] = field(default_factory=dict)

    def apply(self, event: EventBase) -> None:
        """Apply one ``KEYS`` event; the directory ignores what is not about it."""
        match event:
            case KeyIssued():
                self.keys[event.key_id] = KeyFacts(
                    event.key_id,
                    event.key_hint,
                    event.user_id,
                    event.school_id,
                    event.group_id,
                    event.budget_micro_usd,
                    event.renewal,
                    event.period_start,
                )
            case BudgetRenewed() | BudgetChanged() | KeyRevoked():
                self._change_key(event)
            case _:
                self.directory.apply(event)

    def _change_key(self, event: BudgetRenewed | BudgetChanged | KeyRevoked) -> None:
        facts = self.keys.get(event.key_id)
        if facts is None:
            return
        match event:
            case BudgetRenewed():
                facts = replace(
                    facts, period_start=event.period_start, budget_micro_usd=event.budget_micro_usd
                )
            case BudgetChanged():
                facts = replace(
                    facts, budget_micro_usd=event.budget_micro_usd, renewal=event.renewal
                )
            case KeyRevoked():
                facts = replace(facts, revoked=True)
        self.keys[event.key_id] = facts

    def time_zone(self, school_id: str | None) -> ZoneInfo:
        """The school's time zone; UTC for a school (or zone) this ledger does not know."""
        school = self.directory.schools.get(school_id or "")
        try:
            return ZoneInfo(school.time_zone) if school else UTC_ZONE
        except (ZoneInfoNotFoundError, ValueError):
            return UTC_ZONE

    def user_name(self, user_id: str | None) -> str:
        user = self.directory.users.get(user_id or "")
        return user.name if user else ""

    def group_name(self, group_id: str | None) -> str:
        group = self.directory.groups.get(group_id or "")
        return group.name if group else ""

    def school_name(self, school_id: str | None) -> str:
        school = self.directory.schools.get(school_id or "")
        return school.name if school else ""

    def key_hint(self, key_id: UUID | str | None) -> str:
        try:
            facts = self.keys.get(UUID(str(key_id)))
        except ValueError:
            return ""
        return facts.hint if facts else ""
