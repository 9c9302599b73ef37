"""The ledger's one base error; ``api.py`` maps it to an RFC 9457 problem in one place."""

from __future__ import annotations


class LedgerError(Exception):
    """A request the ledger cannot answer; ``status`` and ``title`` become the problem."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFound(LedgerError):
    """Unknown, or outside the administrator's schools (the two are indistinguishable)."""

    status = 404
    title = "Not Found"


class InvalidParameter(LedgerError):
    """A well-formed parameter that makes no sense, e.g. a period ending before it starts."""

    status = 422
    title = "Invalid request"
