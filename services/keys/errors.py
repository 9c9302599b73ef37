"""The keys service's errors: one base class, mapped to HTTP in ``api.py`` only."""

from __future__ import annotations


class KeysError(Exception):
    """Base of every error the keys service reports to a caller; the message is shown."""


class InvalidInput(KeysError):
    """The request is well-formed but breaks a rule (a budget, a window, a time zone)."""


class NotFound(KeysError):
    """No such thing, or it is outside the administrator's scope (the same to a caller)."""


class Forbidden(KeysError):
    """The administrator may not do this, whatever it asks for (not a matter of visibility)."""


class Conflict(KeysError):
    """The request contradicts the current state (unlinked user, a second active key)."""


class StaleConfirmation(KeysError):
    """A confirmation token no longer matches what it confirmed, or has expired."""


class DocumentsUnavailable(KeysError):
    """The documents service did not answer; nothing was issued."""


class DocumentsFailed(KeysError):
    """The documents service answered with an error; nothing was issued."""


class Busy(KeysError):
    """Concurrent writers kept winning; the caller may retry."""
