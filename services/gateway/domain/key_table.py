"""Every key ever issued, in little memory; a replayed KeyIssued stored from its JSON. Pure.

A gateway holds every key of KEYS. Per key it keeps its hash (32 bytes) -> its id (the UUID
as an int) -> one bytes row: the indexes of its terms (what many keys share, kept once) and
of its period start, then its user id. None of these is an object the garbage collector
visits; a million keys take about 270 MiB.

A replay is mostly KeyIssued events that repeat a few terms and period starts (a school's
students get the same ones). ``issue_json`` validates each distinct set with the contract
(``KeyIssued``) once, and stores the keys that repeat one straight from their JSON, checking
the fields it keeps (a field it does not keep, as ``occurred_at``, is not looked at again):
7-7.5 s of CPU for a million keys where decoding each and applying it took 9-10.5 s
(docs/benchmarks.md).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeVar
from uuid import UUID

import orjson

from contracts.codec import decode
from contracts.events import KeyIssued, Renewal, Role

T = TypeVar("T")
_ROW = struct.Struct("<II")  # terms, period start; the user id follows (UTF-8)
_KEY_ISSUED_FIELDS = frozenset(KeyIssued.model_fields)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


class Terms(NamedTuple):
    """What many keys share; a revoked key has terms of its own."""

    role: Role
    school_id: str
    group_id: str | None
    budget_micro_usd: int
    renewal: Renewal
    valid_from: datetime | None
    valid_until: datetime | None
    allowed_models: tuple[str, ...] | None
    revoked: bool = False


class Row(NamedTuple):
    """One key as the table keeps it."""

    terms: Terms
    period_start: datetime
    user_id: str


@dataclass
class _Interned(Generic[T]):
    """Values many keys share, each stored once and named by its index in ``values``."""

    values: list[T] = field(default_factory=list)
    index: dict[T, int] = field(default_factory=dict)

    def id_of(self, value: T) -> int:
        found = self.index.get(value)
        if found is None:
            found = self.index[value] = len(self.values)
            self.values.append(value)
        return found


@dataclass
class KeyTable:
    """Keys by hash and by id."""

    by_hash: dict[bytes, int] = field(default_factory=dict)
    _rows: dict[int, bytes] = field(default_factory=dict)
    _terms: _Interned[Terms] = field(default_factory=_Interned)
    _periods: _Interned[datetime] = field(default_factory=_Interned)
    # The same indexes by the JSON values of the KeyIssued events that were validated.
    _json_terms: dict[tuple[Any, ...], int] = field(default_factory=dict)
    _json_periods: dict[Any, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self._rows)

    def issue(self, event: KeyIssued) -> tuple[int, int]:
        """Store a validated KeyIssued; the indexes of its terms and period start."""
        terms = self._terms.id_of(_terms_of(event))
        period = self._periods.id_of(event.period_start)
        self._put(event.key_id.int, digest(event.key_hash), terms, period, event.user_id)
        return terms, period

    def issue_json(self, data: bytes) -> bool:
        """Store the KeyIssued whose JSON this is; False for any other event or shape (decode
        it and apply it). Raises UnknownEvent for a KeyIssued the contract refuses."""
        try:
            raw = orjson.loads(data)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(raw, dict) or raw.keys() != _KEY_ISSUED_FIELDS:
            return False
        if raw["type"] != "KeyIssued":
            return False
        terms_key, period_key = _json_terms_of(raw), raw["period_start"]
        terms, period = self._json_terms.get(terms_key), self._json_periods.get(period_key)
        key_id = _uuid_int(raw["key_id"]) if _plain(raw) else None
        if terms is None or period is None or key_id is None:
            event = decode(data)  # UnknownEvent if the contract refuses it
            assert isinstance(event, KeyIssued)
            self._json_terms[terms_key], self._json_periods[period_key] = self.issue(event)
        else:
            self._put(key_id, digest(raw["key_hash"]), terms, period, raw["user_id"])
        return True

    def _put(self, key_id: int, key_hash: bytes, terms: int, period: int, user_id: str) -> None:
        if key_id in self._rows and self.by_hash.get(key_hash) != key_id:
            # The same key id issued again with another hash (the keys service never does):
            # the earlier hash stops working rather than living on unrevokable.
            self.by_hash = {h: k for h, k in self.by_hash.items() if k != key_id}
        self.by_hash[key_hash] = key_id
        self._rows[key_id] = _ROW.pack(terms, period) + user_id.encode()

    def replace(self, key_id: UUID, row: Row) -> None:
        """Store new terms or a new period for a key the table holds."""
        terms, period = self._terms.id_of(row.terms), self._periods.id_of(row.period_start)
        self._rows[key_id.int] = _ROW.pack(terms, period) + row.user_id.encode()

    def row(self, key_id: UUID) -> Row | None:
        """The key with this id, or None."""
        row = self._rows.get(key_id.int)
        return None if row is None else self._unpack(row)

    def find(self, key_hash: bytes) -> tuple[UUID, Row] | None:
        """The id and row of the key with this hash, or None."""
        key_id = self.by_hash.get(key_hash)
        return None if key_id is None else (UUID(int=key_id), self._unpack(self._rows[key_id]))

    def period_start_of(self, key_id: UUID) -> datetime | None:
        """The key's budget period start, or None for an unknown key."""
        row = self._rows.get(key_id.int)
        return None if row is None else self._periods.values[_ROW.unpack_from(row)[1]]

    def _unpack(self, row: bytes) -> Row:
        terms, period = _ROW.unpack_from(row)
        user_id = row[_ROW.size :].decode()
        return Row(self._terms.values[terms], self._periods.values[period], user_id)


def digest(key_hash: str) -> bytes:
    """A key's HMAC as bytes (half the memory of its hex); a malformed one matches no key."""
    try:
        return bytes.fromhex(key_hash)
    except ValueError:
        return key_hash.encode()


def _terms_of(event: KeyIssued) -> Terms:
    return Terms(
        event.role, event.school_id, event.group_id, event.budget_micro_usd, event.renewal,
        event.valid_from, event.valid_until, event.allowed_models,
    )  # fmt: skip


def _json_terms_of(raw: dict[str, Any]) -> tuple[Any, ...]:
    """The JSON values of a KeyIssued's terms (lists as tuples, to be a dict key)."""
    models = raw["allowed_models"]
    models = tuple(models) if isinstance(models, list) else models
    return (
        raw["role"], raw["school_id"], raw["group_id"], raw["budget_micro_usd"], raw["renewal"],
        raw["valid_from"], raw["valid_until"], models,
    )  # fmt: skip


def _uuid_int(text: str) -> int | None:
    """The UUID as an int, if written the usual way (else the contract decides)."""
    return int(text.replace("-", ""), 16) if _UUID.fullmatch(text) else None


def _plain(raw: dict[str, Any]) -> bool:
    """Whether the fields kept per key are strings, as the contract wants them."""
    return type(raw["key_id"]) is type(raw["key_hash"]) is type(raw["user_id"]) is str
