"""The Coding page's screens: sign-in, Staff and Students with their dialogs."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from services.keys.api.deps import runtime
from services.keys.api.views import groups_out, schools_out, staff_rows, student_rows
from services.keys.domain.scope import visible_group, visible_school
from services.keys.errors import KeysError
from services.keys.web.guard import (
    COOKIE,
    LANG_COOKIE,
    PREFIX,
    SignedIn,
    Visit,
    console_of,
    csrf_ok,
    language,
)
from services.keys.web.ledger import LedgerUnavailable
from services.keys.web.rows import SORTS, Row, matches, row_of, sorted_rows
from services.keys.web.texts import LANGUAGES, text

router = APIRouter(include_in_schema=False)
YEAR = 365 * 24 * 3600


def render(request: Request, visit: Visit | None, name: str, **context: Any) -> HTMLResponse:
    """A template with the language, texts, CSRF token and the administrator's schools."""
    lang = visit.lang if visit else language(request)
    base: dict[str, Any] = {
        "lang": lang,
        "t": lambda key, **v: text(lang, key, **v),
        "visit": visit,
        "path": request.url.path,
        "query": request.url.query,
    }
    if visit is not None:
        base["csrf"] = visit.session.csrf
        base["schools"] = schools_out(visit.api.ctx.model, visit.admin)
    templates = console_of(request).templates
    return templates.TemplateResponse(request, name, {**base, **context})


def error_page(request: Request, visit: Visit, exc: KeysError, status: int = 404) -> HTMLResponse:
    """A service error as a readable message inside the page."""
    response = render(request, visit, "error.html", message=visit.t("error", detail=str(exc)))
    response.status_code = status
    return response


@router.get("/")
@router.get(PREFIX)
async def home() -> RedirectResponse:
    """The Coding page starts at the Staff tab (or the sign-in form)."""
    return RedirectResponse(f"{PREFIX}/staff", status_code=303)


@router.get(f"{PREFIX}/signin")
async def signin_form(request: Request) -> HTMLResponse:
    """The sign-in form."""
    return render(request, None, "signin.html", failed=False)


async def _form(request: Request) -> dict[str, str]:
    fields = parse_qs((await request.body()).decode("utf-8", "replace"))
    return {k: v[0] for k, v in fields.items() if v}


@router.post(f"{PREFIX}/signin")
async def signin(request: Request) -> Response:
    """Exchange a pasted administrator token for a session cookie (the id only)."""
    token = (await _form(request)).get("token", "").strip()
    api, console = runtime(request), console_of(request)
    admin = api.ctx.model.directory.authenticate(token, api.ctx.secret)
    if admin is None:
        refused = render(request, None, "signin.html", failed=True)
        refused.status_code = 401
        return refused
    session = console.sessions.open(admin.admin_id, token)
    response = RedirectResponse(f"{PREFIX}/staff", status_code=303)
    response.set_cookie(
        COOKIE,
        session.session_id,
        max_age=int(console.sessions.lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post(f"{PREFIX}/signout")
async def signout(request: Request, visit: SignedIn) -> Response:
    """Forget the session; the form carries the CSRF token."""
    if not csrf_ok(visit.session, (await _form(request)).get("csrf")):
        return Response("CSRF token missing or wrong.", status_code=403)
    console_of(request).sessions.close(visit.session.session_id)
    response = RedirectResponse(f"{PREFIX}/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get(f"{PREFIX}/language/{{lang}}")
async def switch_language(lang: str, back: str = f"{PREFIX}/staff") -> Response:
    """Remember the chosen language in a cookie and go back to the page."""
    # Only a path on this site: "//host" and "/\\host" would leave it.
    stays = back.startswith("/") and not back.startswith(("//", "/\\"))
    target = back if stays else f"{PREFIX}/staff"
    response = RedirectResponse(target, status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=YEAR, samesite="strict", path="/")
    return response


async def _last_uses(visit: Visit, **filters: str) -> tuple[dict[str, str | None], bool]:
    try:
        return await visit.ledger().last_uses(visit.today(), **filters), True
    except LedgerUnavailable:
        return {}, False


def _listed(visit: Visit, rows: list[Row], q: str, sort: str, order: str) -> list[Row]:
    found = [r for r in rows if matches(r, q)]
    return sorted_rows(found, sort if sort in SORTS else "name", order == "desc")


@router.get(f"{PREFIX}/staff")
async def staff(
    request: Request,
    visit: SignedIn,
    *,
    q: str = "",
    sort: str = "name",
    order: str = "asc",
    school: str = "",
    fragment: bool = False,
) -> HTMLResponse:
    """Staff in the administrator's schools, searchable and sortable."""
    ctx = visit.api.ctx
    await ctx.projector.catch_up()
    try:
        if school:
            visible_school(ctx.model, visit.admin, school)
    except KeysError as exc:
        return error_page(request, visit, exc)
    filters = {"role": "staff", **({"school_id": school} if school else {})}
    last, usage_ok = await _last_uses(visit, **filters)
    now = ctx.clock()
    people = staff_rows(ctx.model, visit.admin, school or None, now)
    rows = [row_of(ctx.model, p, last.get(p.user_id), now) for p in people]
    return render(
        request,
        visit,
        "_table.html" if fragment else "people.html",
        tab="staff",
        rows=_listed(visit, rows, q, sort, order),
        q=q,
        sort=sort,
        order=order,
        school=school,
        group=None,
        groups=[],
        usage_ok=usage_ok,
    )


@router.get(f"{PREFIX}/students")
async def students(
    request: Request,
    visit: SignedIn,
    *,
    group: str = "",
    q: str = "",
    sort: str = "name",
    order: str = "asc",
    fragment: bool = False,
) -> HTMLResponse:
    """A group's students (the first group when none is picked), searchable and sortable."""
    ctx = visit.api.ctx
    await ctx.projector.catch_up()
    groups = groups_out(ctx.model, visit.admin, None)
    chosen = group or (groups[0].group_id if groups else "")
    rows: list[Row] = []
    usage_ok, picked, zone = True, None, "UTC"
    if chosen:
        try:
            picked = visible_group(ctx.model, visit.admin, chosen)
        except KeysError as exc:
            return error_page(request, visit, exc)
        school = ctx.model.directory.schools.get(picked.school_id)
        zone = school.time_zone if school else "UTC"
        last, usage_ok = await _last_uses(visit, group_id=picked.group_id)
        now = ctx.clock()
        people = student_rows(ctx.model, visit.admin, picked, now)
        rows = [row_of(ctx.model, p, last.get(p.user_id), now) for p in people]
    return render(
        request,
        visit,
        "_table.html" if fragment else "people.html",
        tab="students",
        rows=_listed(visit, rows, q, sort, order),
        q=q,
        sort=sort,
        order=order,
        school="",
        group=picked,
        groups=groups,
        zone=zone,
        usage_ok=usage_ok,
    )
