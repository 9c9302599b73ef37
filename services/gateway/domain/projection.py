"""Keys in memory, by hash, from the KEYS stream; decides whether a key may be used. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts.directory import Directory
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
from contracts.validity import Window, window_position
from services.gateway.domain.key_table import KeyTable, Row, digest
from services.gateway.errors import InvalidApiKey, ModelNotFound

UTC = ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What the gateway knows about one key (slots: a gateway holds every key of KEYS)."""

    key_id: UUID
    user_id: str
    role: Role
    school_id: str
    group_id: str | None
    budget_micro_usd: int
    renewal: Renewal
    period_start: datetime
    valid_from: datetime | None
    valid_until: datetime | None
    allowed_models: tuple[str, ...] | None
    revoked: bool = False

    def may_use(self, model: str) -> bool:
        """True when the key has no allow-list or the list names the model."""
        return self.allowed_models is None or model in self.allowed_models

    def check_model(self, model: str, known: bool) -> None:
        """Raise ModelNotFound when the model does not exist or this key may not use it."""
        if not known or not self.may_use(model):
            raise ModelNotFound(
                f"The model `{model}` does not exist or you do not have access to it."
            )


_KEY_EVENTS = (KeyIssued, KeyRevoked, BudgetRenewed, BudgetChanged, ValidityChanged)


@dataclass
class KeyProjection:
    """Keys by their HMAC, kept current by ``apply``; the directory gives time zones. The
    keys themselves are in a compact table (``key_table.py``); ``authenticate`` and ``get``
    make a ``KeyRecord`` of one."""

    directory: Directory = field(default_factory=Directory)
    keys: KeyTable = field(default_factory=KeyTable)
    _zones: dict[str, ZoneInfo] = field(default_factory=dict)

    def apply(self, event: EventBase) -> None:
        """Apply one KEYS event; others only feed the directory."""
        if not isinstance(event, _KEY_EVENTS):
            self.directory.apply(event)  # which ignores key events
            return
        match event:
            case KeyIssued():
                self.keys.issue(event)
            case KeyRevoked():
                self._update(event.key_id, revoked=True)
            case BudgetRenewed():
                self._update(
                    event.key_id,
                    budget_micro_usd=event.budget_micro_usd,
                    period_start=event.period_start,
                )
            case BudgetChanged():
                self._update(
                    event.key_id, budget_micro_usd=event.budget_micro_usd, renewal=event.renewal
                )
            case ValidityChanged():
                self._update(
                    event.key_id, valid_from=event.valid_from, valid_until=event.valid_until
                )

    def _update(self, key_id: UUID, period_start: datetime | None = None, **terms: Any) -> None:
        row = self.keys.row(key_id)
        if row is not None:
            changed = row.terms._replace(**terms)
            self.keys.replace(key_id, Row(changed, period_start or row.period_start, row.user_id))

    def get(self, key_id: UUID) -> KeyRecord | None:
        """The key with this id, or None."""
        row = self.keys.row(key_id)
        return None if row is None else _record(key_id, row)

    def period_start_of(self, key_id: UUID) -> datetime | None:
        """The key's budget period start, or None for an unknown key."""
        return self.keys.period_start_of(key_id)

    def authenticate(self, key_hash: str, now: datetime) -> KeyRecord:
        """The usable key with this hash; InvalidApiKey says why not (and when it is valid)."""
        found = self.keys.find(digest(key_hash))
        if found is None:
            raise InvalidApiKey("Incorrect API key provided: this key is unknown.")
        record = _record(*found)
        if record.revoked:
            raise InvalidApiKey(
                f"This API key has been revoked. {ask_for_more(record.role, 'a new one')}"
            )
        match window_position(record.valid_from, record.valid_until, now):
            case Window.BEFORE:
                window = _window(record, self.time_zone(record.school_id))
                raise InvalidApiKey(f"This API key is not valid yet: it is valid {window}.")
            case Window.AFTER:
                window = _window(record, self.time_zone(record.school_id))
                raise InvalidApiKey(f"This API key has expired: it was valid {window}.")
        return record

    def time_zone(self, school_id: str) -> ZoneInfo:
        """The school's time zone (UTC if unknown), for messages people read."""
        school = self.directory.schools.get(school_id)
        if school is None:
            return UTC
        zone = self._zones.get(school.time_zone)
        if zone is None:
            # Looked up on every admission: found once per zone name (a bad name once too).
            try:
                zone = ZoneInfo(school.time_zone)
            except (ZoneInfoNotFoundError, ValueError):
                zone = UTC
            self._zones[school.time_zone] = zone
        return zone


def _record(key_id: UUID, row: Row) -> KeyRecord:
    terms = row.terms
    return KeyRecord(
        key_id=key_id, user_id=row.user_id, role=terms.role, school_id=terms.school_id,
        group_id=terms.group_id, budget_micro_usd=terms.budget_micro_usd,
        renewal=terms.renewal, period_start=row.period_start, valid_from=terms.valid_from,
        valid_until=terms.valid_until, allowed_models=terms.allowed_models,
        revoked=terms.revoked,
    )  # fmt: skip


def format_time(moment: datetime, zone: ZoneInfo) -> str:
    """``2026-12-01 08:00 (Europe/Amsterdam)``."""
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})"


def _window(record: KeyRecord, zone: ZoneInfo) -> str:
    start, end = record.valid_from, record.valid_until
    if start is not None and end is not None:
        return f"from {format_time(start, zone)} until {format_time(end, zone)}"
    if start is not None:
        return f"from {format_time(start, zone)}"
    assert end is not None
    return f"until {format_time(end, zone)}"


def ask_for_more(role: Role, what: str) -> str:
    """Whom the key's holder asks for ``what``: a student asks a teacher, staff an administrator."""
    who = "your teacher" if role is Role.STUDENT else "your school's administrator"
    return f"Ask {who} for {what}."
