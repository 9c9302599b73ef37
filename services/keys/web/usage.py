"""Usage screens: a group's and a user's figures and chart, a key's chats, a chat's requests.

Every figure comes from the ledger's API; when the ledger is away the screen says so.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from contracts.money import micro_to_usd
from services.keys.domain.scope import visible_group, visible_key, visible_user
from services.keys.errors import KeysError
from services.keys.web import format as fmt
from services.keys.web.chart import cost_chart
from services.keys.web.guard import PREFIX, SignedIn, Visit
from services.keys.web.ledger import LedgerNotFound, LedgerUnavailable
from services.keys.web.pages import error_page, render

router = APIRouter(prefix=f"{PREFIX}/usage", include_in_schema=False)
DAYS = 30


def _period(visit: Visit) -> tuple[date, date]:
    today = visit.today()
    return today - timedelta(days=DAYS - 1), today


def _chart(visit: Visit, days: dict[str, Any], start: date, end: date) -> dict[str, str]:
    costs = {date.fromisoformat(r["day"]): int(r["cost_micro_usd"]) for r in days["rows"]}
    # The ledger says in which zone its days are; until it does, they are UTC days.
    zone = str(days.get("time_zone") or "UTC")
    top = fmt.usd(micro_to_usd(max(costs.values(), default=0)))
    label = visit.t("chart_label", start=start.isoformat(), end=end.isoformat(), max=top)
    return {
        "svg": cost_chart(costs, start, end, label),
        "title": visit.t("cost_per_day", zone=zone),
    }


async def _figures(visit: Visit, **filters: str) -> dict[str, Any] | None:
    start, end = _period(visit)
    ledger = visit.ledger()
    try:
        users, days, keys = await asyncio.gather(
            *(ledger.report(by, start, end, **filters) for by in ("users", "days", "keys"))
        )
    except (LedgerUnavailable, LedgerNotFound):
        return None
    return {"users": users, "keys": keys, "chart": _chart(visit, days, start, end)}


@router.get("/groups/{group_id}")
async def group_usage(request: Request, group_id: str, visit: SignedIn) -> HTMLResponse:
    """A group's requests, cost, budget used and last use per student, and cost per day."""
    ctx = visit.api.ctx
    try:
        group = visible_group(ctx.model, visit.admin, group_id)
    except KeysError as exc:
        return error_page(request, visit, exc)
    start, end = _period(visit)
    return render(
        request,
        visit,
        "usage.html",
        title=visit.t("usage_group", name=group.name),
        back=f"{PREFIX}/students?group={group.group_id}",
        zone=_zone(visit, group.school_id),
        figures=await _figures(visit, group_id=group_id),
        start=start,
        end=end,
        fmt=fmt,
        budgets=_budgets(visit),
    )


@router.get("/users/{user_id}")
async def user_usage(request: Request, user_id: str, visit: SignedIn) -> HTMLResponse:
    """A user's requests, cost, budget used and last use, keys with their chats, cost per day."""
    ctx = visit.api.ctx
    try:
        user = visible_user(ctx.model, visit.admin, user_id)
    except KeysError as exc:
        return error_page(request, visit, exc)
    start, end = _period(visit)
    back = f"{PREFIX}/staff" if user.role == "staff" else f"{PREFIX}/students"
    return render(
        request,
        visit,
        "usage.html",
        title=visit.t("usage_user", name=user.name),
        back=back,
        zone=_zone(visit, user.school_ids[0] if user.school_ids else ""),
        figures=await _figures(visit, user_id=user_id),
        start=start,
        end=end,
        fmt=fmt,
        budgets=_budgets(visit),
    )


def _budgets(visit: Visit) -> dict[str, tuple[str, str, int]]:
    """Per user with a key in scope: budget, used this period and the share, from keys."""
    model = visit.api.ctx.model
    found: dict[str, tuple[str, str, int]] = {}
    for user_id in model.directory.users:
        key = model.current_key(user_id)
        if key is None or not visit.admin.sees(key.school_id):
            continue
        used, budget = model.spent_this_period(key), key.budget_micro_usd
        found[user_id] = (
            fmt.usd(micro_to_usd(budget)),
            fmt.usd(micro_to_usd(used)),
            min(100, used * 100 // max(budget, 1)),
        )
    return found


@router.get("/keys/{key_id}")
async def key_chats(request: Request, key_id: UUID, visit: SignedIn) -> HTMLResponse:
    """The chats made through a key: title, started, requests, cost."""
    ctx = visit.api.ctx
    try:
        key = visible_key(ctx.model, visit.admin, key_id)
    except KeysError as exc:
        return error_page(request, visit, exc)
    try:
        chats: list[dict[str, Any]] | None = await visit.ledger().get(f"/keys/{key_id}/chats")
    except (LedgerUnavailable, LedgerNotFound):
        chats = None
    return render(
        request,
        visit,
        "chats.html",
        title=visit.t("chats_of_key", hint=key.key_hint),
        back=f"{PREFIX}/usage/users/{key.user_id}",
        chats=chats,
        key_id=key.key_id,
        zone=_zone(visit, key.school_id),
        fmt=fmt,
    )


@router.get("/chats/{chat_id}")
async def chat_requests(
    request: Request, chat_id: UUID, visit: SignedIn, key: UUID | None = None
) -> HTMLResponse:
    """A chat's requests, oldest first; times in the zone of the key's school."""
    known = visit.api.ctx.model.keys.get(key) if key else None
    if known is not None and not visit.admin.sees(known.school_id):
        known = None
    try:
        found: list[dict[str, Any]] | None = await visit.ledger().get(f"/chats/{chat_id}/requests")
        missing = False
    except LedgerUnavailable:
        found, missing = None, False
    except LedgerNotFound:
        found, missing = None, True
    return render(
        request,
        visit,
        "requests.html",
        title=visit.t("chat_requests"),
        requests=found,
        missing=missing,
        back=f"{PREFIX}/usage/keys/{known.key_id}" if known else f"{PREFIX}/staff",
        zone=_zone(visit, known.school_id) if known else "UTC",
        fmt=fmt,
    )


def _zone(visit: Visit, school_id: str) -> str:
    school = visit.api.ctx.model.directory.schools.get(school_id)
    return school.time_zone if school else "UTC"
