"""Events: frozen, past-tense facts. Every service speaks only these across JetStream.

Each event carries the envelope (``event_id``, ``type``, ``version``, ``occurred_at``) and
names the field that holds its aggregate id, so the codec can put it in a header.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, NonNegativeInt

from contracts.streams import KEYS, USAGE


class Role(StrEnum):
    STAFF = "staff"
    STUDENT = "student"


class Renewal(StrEnum):
    NONE = "none"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class EventBase(BaseModel):
    """The envelope shared by every event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    STREAM: ClassVar[str]
    AGGREGATE: ClassVar[str]

    event_id: UUID
    type: str
    version: int = 1
    occurred_at: AwareDatetime

    @property
    def aggregate_id(self) -> str:
        """The id of the thing this event is about."""
        return str(getattr(self, self.AGGREGATE))

    @property
    def dedup_id(self) -> str:
        """JetStream ``Nats-Msg-Id``: publishing the same fact twice stores it once."""
        return str(self.event_id)


class _KeysStreamEvent(EventBase):
    STREAM: ClassVar[str] = KEYS.name


# --- directory and administrators -------------------------------------------------------


class SchoolRecorded(_KeysStreamEvent):
    """A school was created or its details changed."""

    AGGREGATE: ClassVar[str] = "school_id"
    type: Literal["SchoolRecorded"] = "SchoolRecorded"
    school_id: str
    name: str
    time_zone: str
    language: Literal["en", "nl"] = "en"


class GroupRecorded(_KeysStreamEvent):
    """A group (class) of students was created or renamed."""

    AGGREGATE: ClassVar[str] = "group_id"
    type: Literal["GroupRecorded"] = "GroupRecorded"
    group_id: str
    school_id: str
    name: str


class UserRecorded(_KeysStreamEvent):
    """A staff member or student was created or their details changed."""

    AGGREGATE: ClassVar[str] = "user_id"
    type: Literal["UserRecorded"] = "UserRecorded"
    user_id: str
    role: Role
    given_name: str
    family_name: str
    email: str | None = None
    school_ids: tuple[str, ...]
    active: bool = True
    # The role as the roster names it (OneRoster: teacher, aide, administrator, proctor,
    # student); None when the source has none. Optional, so events written before it load.
    roster_role: str | None = None


class AccountLinked(_KeysStreamEvent):
    """A user's login account was linked; only linked users can get a key."""

    AGGREGATE: ClassVar[str] = "user_id"
    type: Literal["AccountLinked"] = "AccountLinked"
    user_id: str
    account: str


class AccountUnlinked(_KeysStreamEvent):
    """A user's login account was unlinked."""

    AGGREGATE: ClassVar[str] = "user_id"
    type: Literal["AccountUnlinked"] = "AccountUnlinked"
    user_id: str


class StudentEnrolled(_KeysStreamEvent):
    """A student joined a group."""

    AGGREGATE: ClassVar[str] = "user_id"
    type: Literal["StudentEnrolled"] = "StudentEnrolled"
    user_id: str
    group_id: str


class StudentUnenrolled(_KeysStreamEvent):
    """A student left a group."""

    AGGREGATE: ClassVar[str] = "user_id"
    type: Literal["StudentUnenrolled"] = "StudentUnenrolled"
    user_id: str
    group_id: str


class EnrolmentDatesRecorded(_KeysStreamEvent):
    """The roster dates a student's membership of a group to ``begins_at``..``ends_at``.

    The membership itself is still ``StudentEnrolled``/``StudentUnenrolled``, appended when a
    bound is reached (by an import or the keys service's roster schedule). A bound is None
    when open; both None means the membership has no dates (any earlier dates are void).
    """

    AGGREGATE: ClassVar[str] = "user_id"
    type: Literal["EnrolmentDatesRecorded"] = "EnrolmentDatesRecorded"
    user_id: str
    group_id: str
    begins_at: AwareDatetime | None
    ends_at: AwareDatetime | None


class AdminCreated(_KeysStreamEvent):
    """An administrator was created; ``school_ids`` None means every school."""

    AGGREGATE: ClassVar[str] = "admin_id"
    type: Literal["AdminCreated"] = "AdminCreated"
    admin_id: str
    name: str
    token_hash: str
    school_ids: tuple[str, ...] | None


class AdminRevoked(_KeysStreamEvent):
    """An administrator's token stopped working."""

    AGGREGATE: ClassVar[str] = "admin_id"
    type: Literal["AdminRevoked"] = "AdminRevoked"
    admin_id: str
    revoked_by: str


# --- keys -------------------------------------------------------------------------------


class KeyIssued(_KeysStreamEvent):
    """A key was made for a user. Holds only the key's hash and display hint."""

    AGGREGATE: ClassVar[str] = "key_id"
    type: Literal["KeyIssued"] = "KeyIssued"
    key_id: UUID
    key_hash: str
    key_hint: str
    user_id: str
    role: Role
    school_id: str
    group_id: str | None
    budget_micro_usd: Annotated[int, Field(gt=0)]
    renewal: Renewal
    period_start: AwareDatetime
    valid_from: AwareDatetime | None
    valid_until: AwareDatetime | None
    allowed_models: tuple[str, ...] | None = None
    batch_id: UUID | None
    issued_by: str


class KeyRevoked(_KeysStreamEvent):
    """A key stopped working, with who and why."""

    AGGREGATE: ClassVar[str] = "key_id"
    type: Literal["KeyRevoked"] = "KeyRevoked"
    key_id: UUID
    revoked_by: str
    reason: str


class BudgetRenewed(_KeysStreamEvent):
    """A new budget period began: spend counts from ``period_start``."""

    AGGREGATE: ClassVar[str] = "key_id"
    type: Literal["BudgetRenewed"] = "BudgetRenewed"
    key_id: UUID
    period_start: AwareDatetime
    budget_micro_usd: Annotated[int, Field(gt=0)]


class BudgetChanged(_KeysStreamEvent):
    """An administrator changed a key's budget or renewal."""

    AGGREGATE: ClassVar[str] = "key_id"
    type: Literal["BudgetChanged"] = "BudgetChanged"
    key_id: UUID
    budget_micro_usd: Annotated[int, Field(gt=0)]
    renewal: Renewal
    changed_by: str


class ValidityChanged(_KeysStreamEvent):
    """An administrator changed a key's validity window."""

    AGGREGATE: ClassVar[str] = "key_id"
    type: Literal["ValidityChanged"] = "ValidityChanged"
    key_id: UUID
    valid_from: AwareDatetime | None
    valid_until: AwareDatetime | None
    changed_by: str


# --- usage ------------------------------------------------------------------------------


class _UsageStreamEvent(EventBase):
    STREAM: ClassVar[str] = USAGE.name


class RequestMetered(_UsageStreamEvent):
    """One request that reached the upstream, with its tokens and exact cost."""

    AGGREGATE: ClassVar[str] = "request_id"
    type: Literal["RequestMetered"] = "RequestMetered"
    request_id: UUID
    key_id: UUID
    user_id: str
    school_id: str
    group_id: str | None
    model: str
    prompt_tokens: NonNegativeInt
    completion_tokens: NonNegativeInt
    cached_tokens: NonNegativeInt
    cost_micro_usd: NonNegativeInt
    estimated: bool = False
    status: int
    stream: bool
    latency_ms: NonNegativeInt
    chat_id: UUID | None
    gateway_id: str
    at: AwareDatetime

    @property
    def dedup_id(self) -> str:
        return str(self.request_id)


class ChatCreated(_UsageStreamEvent):
    """A conversation of a user with a coding tool began."""

    AGGREGATE: ClassVar[str] = "chat_id"
    type: Literal["ChatCreated"] = "ChatCreated"
    # Version 2 added the fingerprint; version 1 events (without it) still decode.
    version: int = 2
    chat_id: UUID
    key_id: UUID
    user_id: str
    school_id: str
    group_id: str | None
    model: str
    title: str
    at: AwareDatetime
    # How other gateway replicas recognise the chat's next requests (docs/chats.md): hex
    # hashes of its opening request (and of its leading paragraphs) and of its session id.
    opening: tuple[str, ...] = ()
    session: str | None = None


KeysEvent = Annotated[
    SchoolRecorded
    | GroupRecorded
    | UserRecorded
    | AccountLinked
    | AccountUnlinked
    | StudentEnrolled
    | StudentUnenrolled
    | EnrolmentDatesRecorded
    | AdminCreated
    | AdminRevoked
    | KeyIssued
    | KeyRevoked
    | BudgetRenewed
    | BudgetChanged
    | ValidityChanged,
    Field(discriminator="type"),
]
UsageEvent = Annotated[RequestMetered | ChatCreated, Field(discriminator="type")]
Event = Annotated[KeysEvent | UsageEvent, Field(discriminator="type")]

EVENT_TYPES: dict[str, type[EventBase]] = {
    str(cls.model_fields["type"].default): cls
    for cls in (
        SchoolRecorded,
        GroupRecorded,
        UserRecorded,
        AccountLinked,
        AccountUnlinked,
        StudentEnrolled,
        StudentUnenrolled,
        EnrolmentDatesRecorded,
        AdminCreated,
        AdminRevoked,
        KeyIssued,
        KeyRevoked,
        BudgetRenewed,
        BudgetChanged,
        ValidityChanged,
        RequestMetered,
        ChatCreated,
    )
}

__all__ = ["EVENT_TYPES", "Event", "EventBase", "KeysEvent", "Renewal", "Role", "UsageEvent"]
