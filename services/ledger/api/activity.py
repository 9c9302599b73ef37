"""The per-request log and time series: the raw activity behind the reports, for dashboards."""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request

from contracts.directory import Admin
from contracts.money import usd_text
from services.ledger.adapters import activity, queries
from services.ledger.api.deps import (
    CurrentAdmin,
    From,
    Runtime,
    Scoped,
    To,
    refuse_unknown_query,
    scoped,
)
from services.ledger.api.negotiate import CSV_RESPONSE, CsvDialect, Dialect, csv_response, wants_csv
from services.ledger.api.schemas import RequestLog, Series
from services.ledger.domain import timeline
from services.ledger.errors import InvalidParameter, NotFound
from services.ledger.runtime import LedgerRuntime

router = APIRouter(tags=["activity"], dependencies=[Depends(refuse_unknown_query)])
Status = Annotated[int | None, Query(ge=100, le=599, description="Only this HTTP status")]
MAX_HOURLY_DAYS = 31


class Interval(StrEnum):
    DAY = "day"
    HOUR = "hour"


async def _question(
    admin: Admin, runtime: LedgerRuntime, from_: Any, to: Any, asked: dict[str, object]
) -> Scoped:
    """The scoped filters; a chat outside the scope is a 404, like one that does not exist."""
    chat_id = asked.pop("chat_id", None)
    question = scoped(admin, runtime.view, from_, to, asked)
    f = question.filters
    if f.group_id is not None and f.school_id is None:
        # Naming the group's school too lets raw reads walk the (school_id, at) index.
        school_id = runtime.view.directory.school_of_group(f.group_id)
        question = replace(question, filters=replace(f, school_id=school_id))
    if isinstance(chat_id, UUID):
        found = await queries.chat(runtime.pool, chat_id)
        if found is None or not admin.sees(found["school_id"]):
            raise NotFound(f"No chat {chat_id}.", field="chat_id")
    return question


@router.get("/requests", response_model=RequestLog, responses=CSV_RESPONSE)
async def request_log(
    request: Request,
    *,
    admin: CurrentAdmin,
    runtime: Runtime,
    from_: From = None,
    to: To = None,
    school_id: str | None = None,
    group_id: str | None = None,
    user_id: str | None = None,
    key_id: UUID | None = None,
    model: str | None = None,
    chat_id: UUID | None = None,
    status: Status = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    csv_dialect: CsvDialect = Dialect.STANDARD,
) -> Any:
    """Every metered request, newest first, paged by cursor: when (UTC and the school's
    clock), who, key, model, chat, tokens, cost, latency, status, stream, estimated."""
    asked: dict[str, object] = {"school_id": school_id, "group_id": group_id, "model": model}
    asked |= {"user_id": user_id, "key_id": key_id, "chat_id": chat_id}
    question = await _question(admin, runtime, from_, to, asked)
    after = timeline.decode_cursor(cursor) if cursor else None
    raw = activity.RawFilters(chat_id, status)
    found = await activity.request_log(runtime.pool, question.filters, raw, after, limit + 1)
    rows = timeline.log_rows(found[:limit], runtime.view)
    next_cursor = timeline.encode_cursor(found[limit - 1]) if len(found) > limit else None
    if wants_csv(request):
        extra = {"X-Next-Cursor": next_cursor} if next_cursor else {}
        return csv_response(rows, timeline.LOG_COLUMNS, "requests", csv_dialect, extra)
    return {**question.answer(), "rows": rows, "next_cursor": next_cursor}


@router.get("/series", response_model=Series, responses=CSV_RESPONSE)
async def series(
    request: Request,
    *,
    admin: CurrentAdmin,
    runtime: Runtime,
    interval: Interval = Interval.DAY,
    from_: From = None,
    to: To = None,
    school_id: str | None = None,
    group_id: str | None = None,
    user_id: str | None = None,
    key_id: UUID | None = None,
    model: str | None = None,
    chat_id: UUID | None = None,
    status: Status = None,
    csv_dialect: CsvDialect = Dialect.STANDARD,
) -> Any:
    """Requests, tokens and cost per day (or hour) of the school's time, every day or hour of
    the period present (zero when unused), for any filter of the request log."""
    asked: dict[str, object] = {"school_id": school_id, "group_id": group_id, "model": model}
    asked |= {"user_id": user_id, "key_id": key_id, "chat_id": chat_id}
    question = await _question(admin, runtime, from_, to, asked)
    f, hourly = question.filters, interval is Interval.HOUR
    if hourly and (f.period.end - f.period.start).days >= MAX_HOURLY_DAYS:
        raise InvalidParameter(
            f"An hourly series covers at most {MAX_HOURLY_DAYS} days.", field="query.from"
        )
    if hourly or chat_id is not None or status is not None:
        raw = activity.RawFilters(chat_id, status)
        found = await activity.raw_series(runtime.pool, f, raw, question.zones, hourly)
    else:
        found = [{**r, "bucket": r["day"]} for r in await queries.usage(runtime.pool, "day", f)]
    label = "hour" if hourly else "day"
    points = timeline.fill(found, f.period.start, f.period.end, hourly, label)
    if wants_csv(request):
        columns = (label, *timeline.SERIES_METRICS, "cost_usd")
        return csv_response(points, columns, f"series-by-{label}", csv_dialect)
    return {**question.answer(), "interval": label, "points": points, "total": _sum(points)}


def _sum(points: list[dict[str, Any]]) -> dict[str, Any]:
    sums = {m: sum(p[m] for p in points) for m in timeline.SERIES_METRICS}
    return {**sums, "cost_usd": usd_text(sums["cost_micro_usd"])}
