"""The keys admin API: routers, the runtime they use, and the one map from errors to HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from contracts.directory import Admin
from infra.admin_auth import admin_dependency
from infra.problems import problem
from services.keys import errors
from services.keys.handlers import Context
from services.keys.sheets import Documents


@dataclass
class ApiRuntime:
    """What the routes need, set on ``app.state.api`` by the lifespan."""

    ctx: Context
    documents: Documents
    default_time_zone: str


def runtime(request: Request) -> ApiRuntime:
    """The running service's use-case context."""
    value: ApiRuntime = request.app.state.api
    return value


CurrentAdmin = Annotated[
    Admin,
    Depends(
        admin_dependency(lambda r: runtime(r).ctx.model.directory, lambda r: runtime(r).ctx.secret)
    ),
]
Runtime = Annotated[ApiRuntime, Depends(runtime)]

# The one place where domain errors become HTTP: (status, title).
_STATUS: dict[type[errors.KeysError], tuple[int, str]] = {
    errors.InvalidInput: (422, "Invalid request"),
    errors.NotFound: (404, "Not Found"),
    errors.Forbidden: (403, "Forbidden"),
    errors.Conflict: (409, "Conflict"),
    errors.StaleConfirmation: (409, "Confirmation no longer valid"),
    errors.DocumentsUnavailable: (503, "Documents service unavailable"),
    errors.DocumentsFailed: (502, "Key sheet could not be rendered"),
    errors.Busy: (503, "Busy"),
}


def _status_of(exc: errors.KeysError) -> tuple[int, str]:
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 400, "Bad Request"


def install_error_handlers(app: FastAPI) -> None:
    """Every ``KeysError`` as an RFC 9457 problem; its message is the detail."""

    async def on_keys_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, errors.KeysError)
        status, title = _status_of(exc)
        response = problem(status, title, str(exc))
        if status == 503:
            response.headers["Retry-After"] = "5"
        return response

    app.add_exception_handler(errors.KeysError, on_keys_error)


def include_routers(app: FastAPI) -> None:
    """Mount every keys API router."""
    from services.keys import api_admins, api_directory, api_groups, api_keys, api_roster

    for module in (api_directory, api_keys, api_groups, api_admins, api_roster):
        app.include_router(module.router)


NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"description": "Unknown or out of scope"}}
