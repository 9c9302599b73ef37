"""Per-key limits on requests per minute and requests at once, with defaults per role. Pure."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from uuid import UUID

from contracts.events import Role
from services.gateway.errors import RateLimited

WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class Limit:
    """How many requests a key of some role may start per minute and have open at once."""

    requests_per_minute: int
    concurrent: int


@dataclass
class _KeyUse:
    started: deque[float] = field(default_factory=deque)
    open: int = 0


@dataclass
class RateLimiter:
    """Sliding one-minute window and a concurrency count per key; ``now`` is monotonic."""

    limits: dict[Role, Limit]
    uses: dict[UUID, _KeyUse] = field(default_factory=dict)

    def acquire(self, key_id: UUID, role: Role, now: float) -> None:
        """Count a request that starts now, or raise RateLimited with a Retry-After."""
        limit = self.limits[role]
        use = self.uses.setdefault(key_id, _KeyUse())
        while use.started and use.started[0] <= now - WINDOW_SECONDS:
            use.started.popleft()
        if len(use.started) >= limit.requests_per_minute:
            wait = math.ceil(use.started[0] + WINDOW_SECONDS - now)
            raise RateLimited(
                f"Rate limit reached: {limit.requests_per_minute} requests per minute for this"
                f" key. Try again in {wait} s.",
                max(wait, 1),
            )
        if use.open >= limit.concurrent:
            raise RateLimited(
                f"Rate limit reached: {limit.concurrent} requests at once for this key."
                " Try again when one has finished.",
                1,
            )
        use.started.append(now)
        use.open += 1

    def release(self, key_id: UUID) -> None:
        """A request of this key has finished."""
        self.uses[key_id].open -= 1

    def in_flight(self) -> int:
        """Requests admitted and not yet finished, over all keys."""
        return sum(use.open for use in self.uses.values())
