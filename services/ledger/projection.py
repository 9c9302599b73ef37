"""What the ledger knows from ``KEYS``: the directory (names, admins) and each key's owner; pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts.directory import Directory
from contracts.events import EventBase, KeyIssued

UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True)
class KeyFacts:
    """Who a key belongs to, and the hint that names it in reports."""

    key_id: UUID
    hint: str
    user_id: str
    school_id: str
    group_id: str | None


@dataclass
class KeysView:
    """The directory plus key facts, kept current by ``apply``."""

    directory: Directory = field(default_factory=Directory)
    keys: dict[UUID, KeyFacts] = field(default_factory=dict)

    def apply(self, event: EventBase) -> None:
        """Apply one ``KEYS`` event; the directory ignores what is not about it."""
        if isinstance(event, KeyIssued):
            self.keys[event.key_id] = KeyFacts(
                event.key_id, event.key_hint, event.user_id, event.school_id, event.group_id
            )
        else:
            self.directory.apply(event)

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
