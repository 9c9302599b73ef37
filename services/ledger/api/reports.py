"""The reporting API: JSON or CSV (``Accept: text/csv``), scoped by the administrator's schools."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from contracts.events import Role
from infra.problems import problem
from services.ledger.adapters import queries
from services.ledger.api import activity as api_activity
from services.ledger.api.deps import (
    CurrentAdmin,
    From,
    Limit,
    Runtime,
    To,
    refuse_unknown_query,
    scoped,
)
from services.ledger.api.negotiate import (
    CSV_RESPONSE,
    CsvDialect,
    Dialect,
    csv_response,
    json_response,
    wants_csv,
)
from services.ledger.api.schemas import ChatRow, Reconciliation, RequestRow, UsageReport
from services.ledger.domain import budgets, paging, reports, scope
from services.ledger.domain.paging import Order, SortBy
from services.ledger.domain.scope import Dimension
from services.ledger.errors import InvalidParameter, LedgerError, NotFound
from services.ledger.runtime import LedgerRuntime
from services.ledger.usecases.reconcile import reconciliation

__all__ = ["install"]


class By(StrEnum):
    USERS = "users"
    KEYS = "keys"
    GROUPS = "groups"
    SCHOOLS = "schools"
    MODELS = "models"
    DAYS = "days"
    USER_MODELS = "user-models"
    GROUP_DAYS = "group-days"


_DIMENSION: dict[By, Dimension] = {
    By.USERS: "user",
    By.KEYS: "key",
    By.GROUPS: "group",
    By.SCHOOLS: "school",
    By.MODELS: "model",
    By.DAYS: "day",
    By.USER_MODELS: "user_model",
    By.GROUP_DAYS: "group_day",
}


router = APIRouter(tags=["reports"], dependencies=[Depends(refuse_unknown_query)])


@router.get(
    "/reports/{by}",
    response_model=UsageReport,
    response_model_exclude_unset=True,
    responses=CSV_RESPONSE,
)
async def usage_report(
    by: By,
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
    role: Annotated[Role | None, Query(description="Only users (or keys) of this role")] = None,
    sort: Annotated[SortBy | None, Query(description="Default: by id (or day)")] = None,
    order: Annotated[Order | None, Query(description="Default: desc for figures")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int | None, Query(ge=1, le=10_000, description="Default: all")] = None,
    csv_dialect: CsvDialect = Dialect.STANDARD,
    total_row: Annotated[bool, Query(description="CSV: end with a row of totals")] = False,
) -> Any:
    """Requests, tokens, cost, chats, first and last use per user, key, group, school, model
    or day over a period of whole days, each school's in its own time zone, within the
    administrator's schools."""
    dimension = _DIMENSION[by]
    if role is not None and dimension not in ("user", "key", "user_model"):
        raise InvalidParameter("'role' applies only to the users and keys reports.", field="role")
    asked: dict[str, object] = {"school_id": school_id, "group_id": group_id}
    asked |= {"user_id": user_id, "key_id": key_id, "model": model}
    question = scoped(admin, runtime.view, from_, to, asked)
    filters = question.filters
    rows = await _usage_rows(runtime, dimension, filters, role)
    total, count = reports.total(rows), len(rows)
    rows = paging.page(paging.arrange(rows, dimension, sort, order), offset, limit)
    extra: tuple[str, ...] = ()
    if dimension == "key":
        rows, extra = await _with_budgets(runtime, rows), budgets.BUDGET_COLUMNS
    if wants_csv(request):
        columns = reports.NAMED[dimension] + reports.METRICS + extra
        lines = [*rows, {columns[0]: "total", **total}] if total_row else rows
        return csv_response(lines, columns, f"usage-by-{dimension}", csv_dialect)
    listing = {"count": count, "offset": offset, "limit": limit}
    return json_response(
        {**question.answer(), "by": dimension, **listing, "rows": rows, "total": total}
    )


async def _usage_rows(
    runtime: LedgerRuntime, dimension: Dimension, filters: scope.Filters, role: Role | None
) -> list[dict[str, Any]]:
    """The report's rows: with the idle users or keys, of the asked role."""
    view = runtime.view
    if dimension not in ("user", "key") and role is None:
        # Nothing to add or drop: shaped straight from the fetched values (no dict per row).
        columns, values = await queries.usage_table(runtime.pool, dimension, filters)
        return reports.table_rows(columns, values, dimension, view)
    found = await queries.usage(runtime.pool, dimension, filters)
    if dimension == "user":
        found = reports.with_idle_users(found, view, filters)
    if dimension == "key":
        found = budgets.with_idle_keys(found, view, filters)
    return reports.usage_rows(reports.of_role(found, role, view), dimension, view)


async def _with_budgets(runtime: LedgerRuntime, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    since = budgets.period_days(runtime.view, [r["key_id"] for r in rows])
    used = await queries.used_since(runtime.pool, since)
    return [budgets.with_budget(r, runtime.view, used) for r in rows]


@router.get("/keys/{key_id}/chats", response_model=list[ChatRow], responses=CSV_RESPONSE)
async def key_chats(
    key_id: UUID, request: Request, admin: CurrentAdmin, runtime: Runtime, limit: Limit = 1000
) -> Any:
    """A key's chats: title, model, first and last activity, requests and cost."""
    scope.check_key(admin, runtime.view, key_id)
    rows = reports.chat_rows(await queries.key_chats(runtime.pool, key_id, limit), runtime.view)
    return (
        csv_response(rows, reports.CHAT_COLUMNS, f"chats-{key_id}") if wants_csv(request) else rows
    )


@router.get("/chats/{chat_id}/requests", response_model=list[RequestRow], responses=CSV_RESPONSE)
async def chat_requests(
    chat_id: UUID, request: Request, admin: CurrentAdmin, runtime: Runtime, limit: Limit = 1000
) -> Any:
    """A chat's metered requests, oldest first."""
    found = await queries.chat(runtime.pool, chat_id)
    if found is None or not admin.sees(found["school_id"]):
        raise NotFound(f"No chat {chat_id}.", field="chat_id")
    rows = reports.request_rows(await queries.chat_requests(runtime.pool, found, limit))
    return (
        csv_response(rows, reports.REQUEST_COLUMNS, f"chat-{chat_id}")
        if wants_csv(request)
        else rows
    )


@router.get("/reconciliation", response_model=Reconciliation, tags=["operations"])
async def reconcile(admin: CurrentAdmin, runtime: Runtime) -> Any:
    """Compare the ledger's totals per key (in scope) with the metered events in USAGE."""
    report = await reconciliation(runtime.js, runtime.pool, runtime.view, admin.sees, wait=10)
    if admin.school_ids is not None:
        # Stream positions count every school's requests: a school's administrator has no
        # use for them, and they tell how busy the other schools are.
        report |= dict.fromkeys(POSITIONS)
    return report


POSITIONS = ("stream_first_sequence", "stream_last_sequence", "ledger_sequence")


def install(app: FastAPI) -> None:
    """Add the reports and the one mapping of ledger errors to problem details."""

    async def on_ledger_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, LedgerError)
        extra = {"errors": [{"field": exc.field, "message": exc.detail}]} if exc.field else {}
        return problem(exc.status, exc.title, exc.detail, **extra)

    app.add_exception_handler(LedgerError, on_ledger_error)
    app.include_router(router)
    app.include_router(api_activity.router)
