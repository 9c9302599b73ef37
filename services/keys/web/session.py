"""Server-side sessions of the Coding page, in memory only.

The cookie holds nothing but a random session id. The administrator's token stays in this
process's memory (it is needed to read the ledger as that administrator) and is never written
to PostgreSQL, a log line or the cookie; a restart signs everybody out.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass
class Session:
    """One signed-in administrator: who, the token (memory only), the CSRF token, times."""

    session_id: str
    admin_id: str
    token: str = field(repr=False)
    csrf: str = field(repr=False)
    created: datetime
    seen: datetime


class Sessions:
    """Sessions by id, with an absolute lifetime and an idle timeout."""

    def __init__(self, lifetime: timedelta, idle: timedelta, clock: Callable[[], datetime]) -> None:
        self.lifetime, self.idle, self._clock = lifetime, idle, clock
        self._by_id: dict[str, Session] = {}

    def open(self, admin_id: str, token: str) -> Session:
        """A new session with fresh random id and CSRF token."""
        self._expire()
        now = self._clock()
        session = Session(
            secrets.token_urlsafe(32), admin_id, token, secrets.token_urlsafe(32), now, now
        )
        self._by_id[session.session_id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id (touching it), or None when unknown or expired."""
        session = self._by_id.get(session_id or "")
        if session is None:
            return None
        now = self._clock()
        if now - session.created > self.lifetime or now - session.seen > self.idle:
            self.close(session.session_id)
            return None
        session.seen = now
        return session

    def close(self, session_id: str) -> None:
        """Forget the session (sign-out, revoked administrator, expiry)."""
        self._by_id.pop(session_id, None)

    def _expire(self) -> None:
        now = self._clock()
        for sid, s in list(self._by_id.items()):
            if now - s.created > self.lifetime or now - s.seen > self.idle:
                del self._by_id[sid]
