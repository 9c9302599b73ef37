"""Keys in memory, by hash, from the KEYS stream; decides whether a key may be used. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar
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
from services.gateway.errors import InvalidApiKey, ModelNotFound

UTC = ZoneInfo("UTC")
T = TypeVar("T")


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


@dataclass
class KeyProjection:
    """Keys by their HMAC, kept current by ``apply``; the directory gives time zones.

    A gateway holds every key ever issued (a million takes a few hundred MB), so hashes are
    kept as their 32 bytes and the values many keys repeat (school, group, budget, period
    start) as one object each."""

    directory: Directory = field(default_factory=Directory)
    by_hash: dict[bytes, KeyRecord] = field(default_factory=dict)
    hash_by_id: dict[UUID, bytes] = field(default_factory=dict)
    _shared: dict[object, object] = field(default_factory=dict)
    _zones: dict[str, ZoneInfo] = field(default_factory=dict)

    def apply(self, event: EventBase) -> None:
        """Apply one KEYS event; others only feed the directory."""
        self.directory.apply(event)
        match event:
            case KeyIssued():
                self._issue(event)
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

    def _one(self, value: T) -> T:
        return self._shared.setdefault(value, value)  # type: ignore[return-value]

    def _issue(self, event: KeyIssued) -> None:
        key_hash = _digest(event.key_hash)
        self.hash_by_id[event.key_id] = key_hash
        self.by_hash[key_hash] = KeyRecord(
            key_id=event.key_id,
            user_id=event.user_id,
            role=event.role,
            school_id=self._one(event.school_id),
            group_id=self._one(event.group_id),
            budget_micro_usd=self._one(event.budget_micro_usd),
            renewal=event.renewal,
            period_start=self._one(event.period_start),
            valid_from=event.valid_from,
            valid_until=event.valid_until,
            allowed_models=event.allowed_models,
        )

    def _update(self, key_id: UUID, **changes: object) -> None:
        key_hash = self.hash_by_id.get(key_id)
        if key_hash is not None:
            self.by_hash[key_hash] = replace(self.by_hash[key_hash], **changes)  # type: ignore[arg-type]

    def get(self, key_id: UUID) -> KeyRecord | None:
        """The key with this id, or None."""
        key_hash = self.hash_by_id.get(key_id)
        return None if key_hash is None else self.by_hash[key_hash]

    def authenticate(self, key_hash: str, now: datetime) -> KeyRecord:
        """The usable key with this hash; InvalidApiKey says why not (and when it is valid)."""
        record = self.by_hash.get(_digest(key_hash))
        if record is None:
            raise InvalidApiKey("Incorrect API key provided: this key is unknown.")
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


def _digest(key_hash: str) -> bytes:
    """A key's HMAC as bytes (half the memory of its hex); a malformed one matches no key."""
    try:
        return bytes.fromhex(key_hash)
    except ValueError:
        return key_hash.encode()


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
