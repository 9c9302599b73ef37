"""The one place where the keys service's errors become HTTP: RFC 9457 problem details."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from infra.problems import problem
from services.keys import errors

# (status, title) per error class; a subclass takes its nearest listed ancestor's.
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
