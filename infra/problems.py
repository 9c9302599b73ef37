"""RFC 9457 problem details for the admin APIs: one shape for every error."""

from __future__ import annotations

from typing import Any

import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
# Seconds a client is asked to wait when the database cannot be reached.
RETRY_AFTER_S = 5
log = structlog.get_logger()


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """An ``application/problem+json`` response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _field(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location if p != "body"]
    return ".".join(parts) or "body"


def _validation_detail(exc: RequestValidationError) -> tuple[str, list[dict[str, str]]]:
    errors = [
        {"field": _field(tuple(e.get("loc", ()))), "message": str(e.get("msg", "invalid"))}
        for e in exc.errors()
    ]
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return "The request body is not valid JSON.", errors
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return detail or "The request is invalid.", errors


def install_problem_handlers(app: FastAPI) -> None:
    """Validation errors (422), HTTP errors (404, 405, ...) and an unreachable database (503,
    nothing changed: a write is one transaction) as problem details."""

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        detail, errors = _validation_detail(exc)
        if _body_missing(exc):
            detail = _what_to_send(request)
        return problem(422, "Invalid request", detail, errors=errors)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        response = problem(exc.status_code, _title(exc.status_code), str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    async def on_database_down(request: Request, exc: Exception) -> JSONResponse:
        # The error's text names the server and the socket: the log gets its class only.
        log.warning("database_unavailable", path=request.url.path, error=type(exc).__name__)
        detail = "The database cannot be reached just now; nothing was changed. Try again shortly."
        response = problem(503, "Service Unavailable", detail)
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    # A pool time-out (psycopg_pool.PoolTimeout) is an OperationalError too.
    app.add_exception_handler(psycopg.OperationalError, on_database_down)
    app.add_exception_handler(psycopg.InterfaceError, on_database_down)


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _body_missing(exc: RequestValidationError) -> bool:
    return any(
        e.get("type") == "missing" and tuple(e.get("loc", ())) == ("body",) for e in exc.errors()
    )


def _what_to_send(request: Request) -> str:
    """'Send a JSON body with ...' naming the body's required fields, from the route."""
    route = request.scope.get("route")
    field = getattr(route, "body_field", None)
    model = getattr(getattr(field, "field_info", None), "annotation", None)
    fields = getattr(model, "model_fields", {})
    required = [name for name, info in fields.items() if info.is_required()]
    if not required:
        return "This request needs a JSON body (an empty object {} is enough)."
    return "This request needs a JSON body with " + ", ".join(required) + "."
