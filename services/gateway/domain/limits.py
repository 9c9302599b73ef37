"""Per-key limits on requests per minute and requests at once, with defaults per role. Pure.

With several replicas, each admits its share of a key's limits: the limit divided by the
number of replicas holding a budget lease on the key now (``share``, from the lease table),
so together they stay within it while that number holds (docs/gateway.md "Rate limits").
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
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
    # How many replicas share a key's limits now (this one counted).
    share: Callable[[UUID], int] = lambda key_id: 1

    def acquire(self, key_id: UUID, role: Role, now: float) -> None:
        """Count a request that starts now, or raise RateLimited with a Retry-After."""
        full = self.limits[role]
        limit = _part(full, self.share(key_id))
        use = self.uses.setdefault(key_id, _KeyUse())
        while use.started and use.started[0] <= now - WINDOW_SECONDS:
            use.started.popleft()
        if len(use.started) >= limit.requests_per_minute:
            wait = math.ceil(use.started[0] + WINDOW_SECONDS - now)
            raise RateLimited(
                f"Rate limit reached: {full.requests_per_minute} requests per minute for this"
                f" key. Try again in {wait} s.",
                max(wait, 1),
            )
        if use.open >= limit.concurrent:
            raise RateLimited(
                f"Rate limit reached: {full.concurrent} requests at once for this key."
                " Try again when one has finished.",
                1,
            )
        use.started.append(now)
        use.open += 1

    def release(self, key_id: UUID) -> None:
        """A request of this key has finished."""
        self.uses[key_id].open -= 1

    def undo(self, key_id: UUID) -> None:
        """Take back the start ``acquire`` just counted (the request is tried again at once)."""
        use = self.uses[key_id]
        use.started.pop()
        use.open -= 1

    def in_flight(self) -> int:
        """Requests admitted and not yet finished, over all keys."""
        return sum(use.open for use in self.uses.values())


def _part(limit: Limit, replicas: int) -> Limit:
    """This replica's share of a key's limits (at least one request of each)."""
    if replicas <= 1:
        return limit
    return Limit(
        max(1, limit.requests_per_minute // replicas), max(1, limit.concurrent // replicas)
    )
