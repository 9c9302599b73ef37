"""HTTP request and response models of the keys API (not events)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from contracts.events import Renewal, Role
from services.keys.domain.keys import Status
from services.keys.domain.rules import MODEL_NAME

Id = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\s/]+$")]
Name = Annotated[str, Field(max_length=200)]
USD_DIGITS = 12
_USD = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _usd(value: object) -> Decimal:
    # Read from the text as written (a JSON number by its shortest repr): no float ever holds
    # the amount, and spaces, exponents and 300-digit numbers are refused without echoing them.
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise PydanticCustomError("usd", 'must be US dollars written as a string such as "25.00"')
    text = repr(value) if isinstance(value, float) else str(value)
    if not _USD.fullmatch(text):
        raise PydanticCustomError(
            "usd", 'must be US dollars in plain digits such as "25.00" (no spaces or exponent)'
        )
    if sum(c.isdigit() for c in text) > USD_DIGITS:
        raise PydanticCustomError("usd", f"must be US dollars with at most {USD_DIGITS} digits")
    return Decimal(text)


Usd = Annotated[
    Decimal,
    PlainValidator(_usd),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
            "maxLength": USD_DIGITS + 2,
            "examples": ["25.00"],
        }
    ),
    Field(description="US dollars, whole cents, more than 0 and at most the configured maximum"),
]
ModelName = Annotated[
    str,
    Field(
        pattern=MODEL_NAME,
        description="The gateway model named in the printed setup lines (Aider, OpenCode, "
        "Claude Code, Codex CLI); default: the service's AISCHOOL_DEFAULT_MODEL",
        examples=["demo"],
    ),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SchoolIn(_In):
    school_id: Id
    name: Name
    time_zone: str = Field(max_length=64, examples=["Europe/Amsterdam"])
    language: Literal["en", "nl"] = "en"


class GroupIn(_In):
    group_id: Id
    school_id: Id
    name: Name
    student_ids: list[Id] | None = Field(
        None, description="The whole membership; students not listed leave the group"
    )


class UserIn(_In):
    user_id: Id
    role: Role
    given_name: Name
    family_name: Name
    school_ids: list[Id] = Field(min_length=1)
    email: Annotated[str, Field(max_length=320)] | None = None
    active: bool = True
    account: Annotated[str, Field(min_length=1, max_length=320)] | None = Field(
        None, description="The linked login account; null means not linked"
    )


class DirectoryIn(_In):
    schools: list[SchoolIn] = []
    groups: list[GroupIn] = []
    users: list[UserIn] = []


class RevokedOut(BaseModel):
    user_id: str
    name: str
    key_id: uuid.UUID
    key_hint: str
    reason: str = Field(description="Why the roster ended this key: 'roster: ...'")


class SkippedRowOut(BaseModel):
    file: str
    line: int
    row_id: str = Field(description="The row's sourcedId ('' when it has none)")
    reason: str


class ImportOut(BaseModel):
    events: int = Field(description="Events appended; 0 when nothing changed")
    counts: dict[str, int]
    revoked: list[RevokedOut] = Field(
        [], description="Keys this import revoked because the roster ended their access"
    )
    skipped: list[SkippedRowOut] = Field([], description="Rows not imported, and why")


class KeyCreate(_In):
    budget_usd: Usd
    renewal: Renewal = Renewal.NONE
    valid_from: datetime | None = Field(None, description="Without offset: the school's time")
    valid_until: datetime | None = Field(None, description="Without offset: the school's time")
    replace: bool = Field(False, description="Revoke the user's active key in the same step")
    letter: bool = Field(
        False,
        description="Also print the key on a one-page PDF letter (letter_pdf_base64); "
        "the letter is rendered first and the key issued only if it came back",
    )
    model: ModelName | None = Field(None, description="Only with letter: the model printed")


class GroupKeysCreate(_In):
    budget_usd: Usd
    renewal: Renewal = Renewal.NONE
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    model: ModelName | None = None


class KeyChange(_In):
    budget_usd: Usd | None = None
    renewal: Renewal | None = None
    valid_from: datetime | None = Field(None, description="Send null to remove the start")
    valid_until: datetime | None = Field(None, description="Send null to remove the end")


class RevokeIn(_In):
    reason: str = Field(min_length=1, max_length=500)


class GroupRevokeIn(_In):
    confirmation_token: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=500)


class KeyOut(BaseModel):
    key_id: uuid.UUID
    key_hint: str
    user_id: str
    role: Role
    school_id: str
    group_id: str | None
    status: Status
    budget_usd: Decimal
    used_usd: Decimal = Field(description="Spent in the current period")
    renewal: Renewal
    period_start: datetime
    valid_from: datetime | None
    valid_until: datetime | None
    issued_at: datetime
    issued_by: str


class KeyCreated(KeyOut):
    key: str = Field(description="The API key in plaintext: shown in this response only")
    letter_pdf_base64: str | None = Field(
        None, description="With letter: true, the PDF letter with the key, base64; shown once"
    )


ELSEWHERE: Literal["elsewhere"] = "elsewhere"
RowStatus = Status | Literal["elsewhere"]


class PersonRow(BaseModel):
    user_id: str
    name: str
    role: Role
    roster_role: str | None = Field(
        None, description="The role the roster gives (teacher, aide, administrator, ...)"
    )
    email: str | None
    school_ids: list[str] = Field(description="The user's schools in the caller's scope")
    group_ids: list[str] = Field(description="The user's groups in the caller's scope")
    linked: bool
    active: bool = Field(description="False: disabled in the school's roster")
    key_status: RowStatus = Field(
        description="The latest key's status; 'elsewhere': another school issued the user a "
        "live key (only that school sees it, replaces or revokes it)"
    )
    key: KeyOut | None


class SchoolOut(BaseModel):
    school_id: str
    name: str
    time_zone: str
    language: str


class GroupOut(BaseModel):
    group_id: str
    school_id: str
    name: str
    students: int


class HistoryEntry(BaseModel):
    position: int
    version: int
    type: str
    occurred_at: datetime
    data: dict[str, Any]


class IssuedCard(BaseModel):
    user_id: str
    name: str
    key_id: uuid.UUID
    key_hint: str
    key: str = Field(description="Plaintext, shown in this response only")


class Skipped(BaseModel):
    user_id: str
    name: str
    reason: str


class GroupKeysOut(BaseModel):
    group_id: str
    batch_id: uuid.UUID | None
    issued: list[IssuedCard]
    skipped: list[Skipped]
    sheet_pdf_base64: str = Field(description="The PDF key sheet, base64; shown once")


class KeyBrief(BaseModel):
    user_id: str
    name: str
    key_id: uuid.UUID
    key_hint: str


class RevocationPreview(BaseModel):
    group_id: str
    count: int
    names: list[str]
    keys: list[KeyBrief]
    confirmation_token: str
    expires_at: datetime


class GroupRevoked(BaseModel):
    group_id: str
    revoked: int
    keys: list[KeyBrief]


class AdminIn(_In):
    name: Name = Field(description="Who this administrator is")
    school_ids: list[Id] | None = Field(
        max_length=1000,
        description="The schools in scope; null for every school (required: say which)",
        examples=[["north"]],
    )


class AdminOut(BaseModel):
    admin_id: str
    name: str
    school_ids: list[str] | None = Field(description="null: every school")
    created_at: datetime


class NewAdminOut(AdminOut):
    token: str = Field(description="The bearer token: shown in this response only, ever")
