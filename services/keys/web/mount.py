"""Mount the Coding page on the keys service's app."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from infra.problems import problem
from services.keys.settings import KeysSettings
from services.keys.web import actions, pages, usage
from services.keys.web.guard import (
    PREFIX,
    STATIC,
    TEMPLATES,
    Console,
    CsrfRefused,
    SignInNeeded,
    install_headers,
)
from services.keys.web.session import Sessions


def mount_console(app: FastAPI, settings: KeysSettings, clock: Callable[[], datetime]) -> None:
    """Serve the Coding page at ``/`` and ``/console/...`` of the keys service."""
    sessions = Sessions(
        timedelta(hours=settings.console_session_hours),
        timedelta(minutes=settings.console_idle_minutes),
        clock,
    )
    app.state.console = Console(sessions, Jinja2Templates(TEMPLATES), settings.ledger_url)
    install_headers(app)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")
    for module in (pages, actions, usage):
        app.include_router(module.router)

    async def on_signin_needed(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(f"{PREFIX}/api"):
            return problem(401, "Unauthorized", "Your session has ended; sign in again.")
        return RedirectResponse(f"{PREFIX}/signin", status_code=303)

    async def on_csrf(request: Request, exc: Exception) -> JSONResponse:
        return problem(403, "Forbidden", "This change lacks the page's CSRF token; reload it.")

    app.add_exception_handler(SignInNeeded, on_signin_needed)
    app.add_exception_handler(CsrfRefused, on_csrf)
