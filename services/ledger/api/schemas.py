"""HTTP response models of the reports (documentation and validation; not events)."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class Usage(BaseModel):
    """Totals over a period: input is the prompt, output the completion; cost exact."""

    requests: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: str = Field(description="US dollars as a decimal string, e.g. '1.234567'")
    cost_micro_usd: int
    chats: int
    first_use: datetime | None
    last_use: datetime | None


class UsageRow(Usage):
    """One row of a report; only the columns of its dimension are present."""

    user_id: str | None = None
    user_name: str | None = None
    key_id: UUID | None = None
    key_hint: str | None = None
    group_id: str | None = None
    group_name: str | None = None
    school_id: str | None = None
    school_name: str | None = None
    model: str | None = None
    day: date | None = None
    time_zone: str | None = Field(
        None, description="The row's school's time zone, in which its days are counted"
    )
    budget_usd: str | None = Field(None, description="Keys: the budget per period")
    budget_micro_usd: int | None = None
    used_this_period_usd: str | None = Field(None, description="Keys: spent since period_start")
    used_this_period_micro_usd: int | None = None
    remaining_usd: str | None = None
    remaining_micro_usd: int | None = None
    period_start: datetime | None = None
    renews_at: datetime | None = Field(None, description="Keys: when the next period begins")
    renewal: str | None = None
    revoked: bool | None = None


class Period(BaseModel):
    """Whole days, each school's in its own time zone."""

    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    time_zone: str | None = Field(
        description="The time zone of every school in the answer, or null when they differ"
    )
    time_zones: dict[str, str] = Field(description="Each school's time zone, by school_id")


class UsageReport(Period):
    """A report per user, key, group, school, model or day (or user x model, group x day)
    over whole days in school time; ``total`` is over every row, ``rows`` one page."""

    by: str
    count: int = Field(description="Rows for the filter, over all pages")
    offset: int
    limit: int | None
    rows: list[UsageRow]
    total: Usage


class ChatRow(BaseModel):
    """One chat of a key: what it was, and what it used."""

    chat_id: UUID
    title: str | None
    model: str
    user_id: str
    user_name: str
    created_at: datetime | None
    first_activity: datetime | None
    last_activity: datetime | None
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: str
    cost_micro_usd: int


class RequestRow(BaseModel):
    """One metered request of a chat."""

    request_id: UUID
    at: datetime
    model: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: str
    cost_micro_usd: int
    status: int
    stream: bool
    latency_ms: int
    estimated: bool


class LoggedRequest(BaseModel):
    """One metered request as the per-request log shows it."""

    request_id: UUID
    at: datetime
    local_at: datetime = Field(description="The same instant on the school's clock")
    day: date | None = Field(description="The school's day it counts on")
    time_zone: str
    school_id: str
    school_name: str
    group_id: str | None
    group_name: str | None
    user_id: str
    user_name: str
    key_id: UUID
    key_hint: str
    model: str
    chat_id: UUID | None
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: str
    cost_micro_usd: int
    latency_ms: int
    status: int
    stream: bool
    estimated: bool = Field(description="Tokens estimated by the gateway, not reported upstream")


class RequestLog(Period):
    """A page of the per-request log, newest first."""

    rows: list[LoggedRequest]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null: last")


class Point(BaseModel):
    """Totals of one day or hour of the school's time (zero when unused)."""

    day: date | None = None
    hour: datetime | None = Field(None, description="A local hour, as the school's clock reads")
    requests: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: str
    cost_micro_usd: int


class SeriesTotal(BaseModel):
    """The sum of a series."""

    requests: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: str
    cost_micro_usd: int


class Series(Period):
    """Requests and cost per day or hour, every one of the period present."""

    interval: str
    points: list[Point]
    total: SeriesTotal


class KeyDifference(BaseModel):
    """A key whose ledger totals differ from the metered events in ``USAGE``."""

    key_id: UUID
    key_hint: str
    ledger_requests: int
    stream_requests: int
    ledger_cost_micro_usd: int
    stream_cost_micro_usd: int


class Reconciliation(BaseModel):
    """The ledger's totals per key against the sum of ``RequestMetered`` in ``USAGE``."""

    matches: bool
    stream_first_sequence: int | None = Field(
        description="Operators only: null for an administrator of some schools"
    )
    stream_last_sequence: int | None = Field(description="Operators only, as above")
    ledger_sequence: int | None = Field(description="Operators only, as above")
    keys_compared: int
    differences: list[KeyDifference]
