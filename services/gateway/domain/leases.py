"""Budget leases: how gateway replicas share one key's budget exactly. Pure.

Each key has one *lease table* for its current budget period, kept in JetStream's key-value
bucket ``BUDGET_LEASES`` (``lease_store.py`` does the I/O). Per replica it holds:

- ``granted``: what the replica may use in the period, all told (its spend this period plus
  its requests in flight), micro-USD;
- ``used``: what it used when it last wrote;
- ``keep``: the most it may have used without writing again: between two writes a replica
  admits only into a *slice* of its grant (a quarter of what it has left, or what one request
  wants), so ``keep`` = used + slice, at least what it could admit before this write;
- ``expires_ms``: until when the grant holds (wall clock, milliseconds);
- ``wants_until_ms``: set for ``WANT_MS`` when it needed more than was free: meanwhile the
  others give back what they hold unused.

Every change is a compare-and-set on the table's revision, so no two replicas grant from the
same free budget, and every function here keeps

    sum(granted) <= budget        (``take`` grows a grant only into what is free)

A replica admits a request only while its used stays within its limit (its used at its last
write plus its slice) and its grant has not expired by its own clock (``budget.py``), so what
all replicas spend together stays within the budget with no call to NATS per request. A
replica that stops writing (killed, or cut off from NATS) serves within its slice and stops
when its grant expires; ``grace_ms`` later any other replica lowers that grant to its
``keep``, and the rest is free again. Exact whatever fails, as long as replica clocks differ
by less than the margin plus the grace (``lease_keeper.LeaseTiming``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

import orjson

# A grant takes half of what is free (at least what the request needs): replicas sharing a
# key end up with similar shares in a few round trips, and one replica alone needs only
# O(log(budget / request)) of them in a period.
SPLIT = 2
# A quarter: a replica killed mid-burst leaves at most a quarter of its unused grant held
# until it starts again; a busy replica writes (reports) about once a second anyway.
SLICE = 4
WANT_MS = 2000


@dataclass(frozen=True)
class Lease:
    """One replica's grant in a key's lease table."""

    granted: int
    used: int
    keep: int
    expires_ms: int
    wants_until_ms: int = 0

    def live(self, now_ms: int) -> bool:
        """Whether the grant still holds unused budget its replica may admit within."""
        return self.expires_ms > now_ms and self.granted > self.used


@dataclass(frozen=True)
class LeaseTable:
    """A key's grants in one budget period (``period`` is the period's start)."""

    period: datetime
    budget: int
    leases: Mapping[str, Lease] = field(default_factory=dict)

    def granted(self) -> int:
        """What all replicas together may use in the period."""
        return sum(lease.granted for lease in self.leases.values())

    def others(self, me: str) -> int:
        return sum(lease.granted for name, lease in self.leases.items() if name != me)

    def holders(self, me: str, now_ms: int) -> int:
        """Replicas that may admit requests of this key now, this one counted."""
        return 1 + sum(
            1 for name, lease in self.leases.items() if name != me and lease.live(now_ms)
        )

    def wanted_until(self, me: str, now_ms: int) -> int:
        """Until when another replica wants more than was free (0: none wants now)."""
        wants = [
            lease.wants_until_ms
            for name, lease in self.leases.items()
            if name != me and lease.wants_until_ms > now_ms
        ]
        return max(wants, default=0)

    def with_lease(self, me: str, lease: Lease) -> LeaseTable:
        return replace(self, leases={**self.leases, me: lease})


@dataclass(frozen=True)
class Grant:
    """The table after a replica's write, and the limit that replica may now admit up to
    (its used plus its slice) until it writes again."""

    table: LeaseTable
    limit: int

    def covers(self, used: int, need: int) -> bool:
        return self.limit - used >= need


def _lease(
    held: int, used: int, *, before: int, want: int, expires_ms: int, wants_until: int = 0
) -> tuple[Lease, int]:
    """A grant of ``held`` and its slice; ``keep`` also covers the limit of before the write
    (requests admitted while the write was on its way)."""
    room = max(0, held - used)
    limit = used + min(room, max(want, room // SLICE))
    return Lease(held, used, max(before, limit), expires_ms, wants_until), limit


def for_period(table: LeaseTable | None, period: datetime, budget: int) -> LeaseTable | None:
    """The table to write for ``period``: a fresh one when the stored one is of an earlier
    period (grants of a period that ended are void), None when it is of a later one (this
    replica has not seen the new period start yet)."""
    if table is None or table.period < period:
        return LeaseTable(period, budget)
    if table.period > period:
        return None
    return replace(table, budget=budget)


def reclaimed(table: LeaseTable, now_ms: int, grace_ms: int) -> LeaseTable:
    """Expired grants lowered to the most their replica may have used (``keep``)."""
    leases = {
        name: replace(lease, granted=lease.keep)
        if lease.expires_ms + grace_ms <= now_ms and lease.granted > lease.keep
        else lease
        for name, lease in table.leases.items()
    }
    return replace(table, leases=leases)


def take(
    table: LeaseTable,
    me: str,
    *,
    used: int,
    limit: int,
    need: int,
    want: int,
    now_ms: int,
    ttl_ms: int,
    grace_ms: int,
) -> Grant:
    """Grow this replica's grant so ``need`` more fits (aiming for ``want``, or half of what
    is free if that is more); when what is free cannot pay ``need``, keep the grant and say
    it wants more, so the other replicas give back what they hold unused. ``limit`` is what
    this replica may admit up to until this write lands (0 when it holds no lease)."""
    table = reclaimed(table, now_ms, grace_ms)
    mine = table.leases.get(me)
    held = max(mine.granted if mine else 0, used)
    available = table.budget - table.others(me) - used
    expires = now_ms + ttl_ms
    if held - used >= need:
        lease, new_limit = _lease(held, used, before=limit, want=want, expires_ms=expires)
    elif need > available:
        wants = now_ms + WANT_MS
        lease, new_limit = _lease(
            held, used, before=limit, want=0, expires_ms=expires, wants_until=wants
        )
    else:
        grown = max(held, used + min(available, max(need, want, available // SPLIT)))
        lease, new_limit = _lease(grown, used, before=limit, want=want, expires_ms=expires)
    return Grant(table.with_lease(me, lease), new_limit)


def renew(
    table: LeaseTable,
    me: str,
    *,
    used: int,
    limit: int,
    now_ms: int,
    ttl_ms: int,
    grace_ms: int,
) -> Grant:
    """Report what this replica uses: its grant's time is extended and its slice renewed."""
    table = reclaimed(table, now_ms, grace_ms)
    mine = table.leases.get(me)
    held = max(mine.granted if mine else 0, used)
    lease, new_limit = _lease(held, used, before=limit, want=0, expires_ms=now_ms + ttl_ms)
    return Grant(table.with_lease(me, lease), new_limit)


def give_back(
    table: LeaseTable,
    me: str,
    *,
    used: int,
    limit: int,
    now_ms: int,
    ttl_ms: int,
    grace_ms: int,
) -> Grant:
    """Lower this replica's grant to ``limit`` (the caller lowered its own limit to what it
    uses before writing): the rest is free for the others. Unchanged when it already is."""
    keep = max(limit, used)
    mine = table.leases.get(me)
    if mine is not None and (mine.granted, mine.used, mine.keep) == (keep, used, keep):
        return Grant(table, keep)
    table = reclaimed(table, now_ms, grace_ms)
    return Grant(table.with_lease(me, Lease(keep, used, keep, now_ms + ttl_ms)), keep)


def encode(table: LeaseTable) -> bytes:
    """The table as stored in the bucket (JSON; amounts are integers of micro-USD)."""
    return orjson.dumps(
        {
            "period": table.period.isoformat(),
            "budget": table.budget,
            "leases": {
                name: [
                    lease.granted,
                    lease.used,
                    lease.keep,
                    lease.expires_ms,
                    lease.wants_until_ms,
                ]
                for name, lease in table.leases.items()
            },
        }
    )


def decode(data: bytes) -> LeaseTable:
    """A table read from the bucket."""
    raw = orjson.loads(data)
    leases = {name: Lease(*map(int, values)) for name, values in raw["leases"].items()}
    return LeaseTable(datetime.fromisoformat(raw["period"]), int(raw["budget"]), leases)
