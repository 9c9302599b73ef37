"""Who is signed in, CSRF checks, the language, and the security headers of the page."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Request, Response
from fastapi.templating import Jinja2Templates

from contracts.directory import Admin
from contracts.periods import latest_date
from infra.lifespan import runtime_of
from services.keys.api.deps import runtime
from services.keys.runtime import KeysRuntime
from services.keys.web.ledger import Ledger
from services.keys.web.session import Session, Sessions
from services.keys.web.texts import choose, text

COOKIE = "aischool_session"
LANG_COOKIE = "aischool_lang"
CSRF_HEADER = "X-CSRF-Token"
PREFIX = "/console"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Pages and answers may carry a key: never cached, never kept for the back button.
    "Cache-Control": "no-store",
}


@dataclass
class Console:
    """The page's runtime: sessions, templates, where the ledger is."""

    sessions: Sessions
    templates: Jinja2Templates
    ledger_url: str


class SignInNeeded(Exception):
    """No live session (or its administrator was revoked)."""


class CsrfRefused(Exception):
    """A write without the session's CSRF token."""


@dataclass
class Visit:
    """A request from a signed-in administrator, in a language."""

    admin: Admin
    session: Session
    lang: str
    api: KeysRuntime
    console: Console

    def t(self, key: str, **values: object) -> str:
        """A text in this visit's language."""
        return text(self.lang, key, **values)

    def ledger(self) -> Ledger:
        """The ledger's API, as this administrator."""
        return Ledger(self.console.ledger_url, self.session.token)

    def today(self) -> date:
        """Today in the schools' time, as the ledger counts report days: the latest date
        among the zones of the schools this administrator sees."""
        schools = self.api.ctx.model.directory.schools
        zones = (ZoneInfo(s.time_zone) for sid, s in schools.items() if self.admin.sees(sid))
        return latest_date(self.api.ctx.clock(), zones)


def console_of(request: Request) -> Console:
    """The page's runtime."""
    return runtime_of(request.app, Console, name="console")


def language(request: Request) -> str:
    """The language the visitor chose (cookie) or the browser prefers."""
    return choose(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def signed_in(request: Request) -> Visit:
    """The signed-in administrator, checked against the directory on every request."""
    console, api = console_of(request), runtime(request)
    session = console.sessions.get(request.cookies.get(COOKIE))
    if session is None:
        raise SignInNeeded
    admin = api.ctx.model.directory.authenticate(session.token, api.ctx.secret)
    if admin is None or admin.admin_id != session.admin_id:
        console.sessions.close(session.session_id)
        raise SignInNeeded
    return Visit(admin, session, language(request), api, console)


def csrf_ok(session: Session, given: str | None) -> bool:
    """True when ``given`` is the session's CSRF token."""
    return given is not None and hmac.compare_digest(given.encode(), session.csrf.encode())


def writing(request: Request, visit: Annotated[Visit, Depends(signed_in)]) -> Visit:
    """A signed-in write: refused without the session's CSRF token in its header."""
    if not csrf_ok(visit.session, request.headers.get(CSRF_HEADER)):
        raise CsrfRefused
    return visit


SignedIn = Annotated[Visit, Depends(signed_in)]
Writing = Annotated[Visit, Depends(writing)]


def install_headers(app: FastAPI) -> None:
    """Security headers on every response of the page (and its root URL)."""

    @app.middleware("http")
    async def headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if request.url.path == "/" or request.url.path.startswith(PREFIX):
            response.headers.update(HEADERS)
        return response


TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
