"""When a key may be used: its validity window, one rule for every service. Pure."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class Window(StrEnum):
    """Where a moment falls against a key's window (values as the admin API shows them)."""

    BEFORE = "not_yet_valid"
    WITHIN = "active"
    AFTER = "expired"


def window_position(
    valid_from: datetime | None, valid_until: datetime | None, now: datetime
) -> Window:
    """The window is half-open, ``[valid_from, valid_until)``; a missing bound is open."""
    if valid_until is not None and now >= valid_until:
        return Window.AFTER
    if valid_from is not None and now < valid_from:
        return Window.BEFORE
    return Window.WITHIN
