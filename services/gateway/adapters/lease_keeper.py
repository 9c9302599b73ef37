"""When this replica takes, renews, reports and gives back its budget leases (``leases.py``).

- **take** (request path, only when the lease is short): one compare-and-set write; requests
  of one key wait for one another's write rather than each writing (one lock per key).
- **report and renew** (in the background, every ``report_seconds``): the used of every key
  whose used changed, and the expiry of every lease past half its time, so a replica that is
  killed leaves a table that says what its requests in flight hold.
- **give back** (in the background): a key idle for ``idle_seconds``, a key another replica
  asked more for (seen on the watch), a key whose budget was lowered below what is granted;
  and every lease at shutdown. The local grant is lowered *before* the write, so nothing is
  admitted into what is being given back.

A write that NATS does not take within ``timeout_seconds`` leaves the local grant as it was:
requests are served within it until it expires (``ttl_seconds``) and refused beyond it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

import structlog

from services.gateway.adapters.lease_store import Contended, LeaseStore, Unreachable
from services.gateway.domain import leases
from services.gateway.domain.budget import Budgets, LocalLease
from services.gateway.domain.leases import Grant, LeaseTable
from services.gateway.domain.projection import KeyRecord
from services.gateway.errors import RateLimited

log = structlog.get_logger(__name__)

HELD_ELSEWHERE = (
    "The rest of this key's budget is held by its requests on other gateways;"
    " try again in a second."
)
UNREACHABLE = (
    "This gateway cannot reach its budget store (NATS) to take more of this key's budget;"
    " try again in a moment."
)
SHORT_SECONDS = 0.25
NEW_PERIOD = "This key's new budget period is starting; try again in a second."


@dataclass(frozen=True)
class LeaseTiming:
    """How long a grant holds and how often it is reported; see GatewaySettings."""

    ttl_seconds: float = 30.0
    report_seconds: float = 1.0
    timeout_seconds: float = 1.0
    # Our own clock stops admitting this long before the table says the grant expires, and
    # another replica takes it back only this long after: replica clocks may differ by up
    # to their sum (NTP keeps them within milliseconds).
    margin_seconds: float = 1.0
    grace_seconds: float = 1.0

    @property
    def idle_seconds(self) -> float:
        return self.ttl_seconds / 3


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass
class LeaseKeeper:
    """This replica's side of the lease tables, on its in-memory budgets."""

    store: LeaseStore
    budgets: Budgets
    key: Callable[[UUID], KeyRecord | None]
    gateway_id: str
    now: Callable[[], datetime]
    timing: LeaseTiming = field(default_factory=LeaseTiming)
    _locks: dict[UUID, asyncio.Lock] = field(default_factory=dict)
    # A take that found too little, and the table it saw: not repeated for SHORT_SECONDS
    # unless the table changed (64 requests refused at once need not write 64 times).
    _short: dict[UUID, tuple[LeaseTable | None, datetime]] = field(default_factory=dict)
    _give: set[UUID] = field(default_factory=set)
    _answered: dict[UUID, int] = field(default_factory=dict)  # wants given back for, by deadline
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    takes: int = 0

    def __post_init__(self) -> None:
        self.store.on_table = self._seen

    async def acquire(self, key: KeyRecord, need: int, want: int) -> None:
        """Grow this replica's lease on ``key`` so ``need`` fits, or raise RateLimited."""
        async with self._lock(key.key_id):
            if self.budgets.lease_left(key.key_id, self.now()) >= need:
                return  # a write another request waited for covered this one too
            seen, until = self._short.get(key.key_id, (None, self.now()))
            if seen is not None and seen is self.store.table(key.key_id) and self.now() < until:
                raise RateLimited(HELD_ELSEWHERE, retry_after_seconds=1)
            self.takes += 1
            grant = await self._write(key, leases.take, need=need, want=want)
            used = grant.table.leases[self.gateway_id].used
            if not grant.covers(used, need):
                later = self.now() + timedelta(seconds=SHORT_SECONDS)
                self._short[key.key_id] = (self.store.table(key.key_id), later)
                raise RateLimited(HELD_ELSEWHERE, retry_after_seconds=1)
            self._short.pop(key.key_id, None)

    def holders(self, key_id: UUID) -> int:
        """Replicas that may admit this key's requests now (this one counted)."""
        table = self.store.table(key_id)
        return 1 if table is None else table.holders(self.gateway_id, _ms(self.now()))

    async def run(self) -> None:
        """Report, renew and give back, every ``report_seconds`` or when woken."""
        while True:
            with contextlib.suppress(TimeoutError):  # asyncio.timeout keeps a cancellation
                async with asyncio.timeout(self.timing.report_seconds):
                    await self._wake.wait()
            self._wake.clear()
            await self.sync()

    async def sync(self) -> None:
        """One round of reports, renewals and give-backs over the keys we hold leases on."""
        for key_id in [k for k, a in self.budgets.accounts.items() if a.lease is not None]:
            try:
                await self._sync_one(key_id)
            except RateLimited as refused:
                log.warning("budget_lease_sync_failed", key_id=str(key_id), reason=str(refused))

    async def close(self) -> None:
        """Give back every lease (at shutdown), as far as NATS takes it within five seconds;
        what is not given back returns when the lease expires."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                for key_id, account in list(self.budgets.accounts.items()):
                    key = self.key(key_id)
                    if account.lease is not None and key is not None:
                        try:
                            await self._give_back(key, drop=True)
                        except RateLimited:
                            log.warning("budget_lease_not_given_back", key_id=str(key_id))

    def _lock(self, key_id: UUID) -> asyncio.Lock:
        return self._locks.setdefault(key_id, asyncio.Lock())

    def _seen(self, key_id: UUID, table: LeaseTable) -> None:
        account = self.budgets.accounts.get(key_id)
        if account is None or account.lease is None:
            return
        wanted = table.wanted_until(self.gateway_id, _ms(self.now()))
        if wanted > self._answered.get(key_id, 0):
            self._answered[key_id] = wanted
            self._give.add(key_id)
            self._wake.set()

    async def _sync_one(self, key_id: UUID) -> None:
        account, key, now = self.budgets.account(key_id), self.key(key_id), self.now()
        lease = account.lease
        if lease is None or key is None or lease.period != account.period_start:
            account.lease = None  # a period that ended: its grants are void
            return
        idle = account.reserved_micro == 0 and (
            now - lease.last_admitted >= timedelta(seconds=self.timing.idle_seconds)
        )
        table = self.store.table(key_id)
        over = table is not None and table.granted() > key.budget_micro_usd
        if key_id in self._give or idle or over:
            self._give.discard(key_id)
            await self._give_back(key, drop=idle)
        elif self.budgets.used_micro(key_id) != lease.reported or lease.until - now < timedelta(
            seconds=self.timing.ttl_seconds / 2
        ):
            async with self._lock(key_id):
                await self._write(key, leases.renew)

    async def _give_back(self, key: KeyRecord, *, drop: bool) -> None:
        async with self._lock(key.key_id):
            account = self.budgets.account(key.key_id)
            if account.lease is None:
                return
            # Lowered here first, and written as it is: nothing is admitted into what the
            # write gives back, and the table never says less than we may admit within.
            account.lease.limit = min(account.lease.limit, self.budgets.used_micro(key.key_id))
            await self._write(key, leases.give_back)
            if drop and account.reserved_micro == 0:
                account.lease = None

    async def _write(self, key: KeyRecord, rule: Callable[..., Grant], **asked: int) -> Grant:
        """Write ``rule`` (``leases.take``, ``renew``, ``give_back``) into the key's table for
        its current period; then hold the grant until a margin before the expiry it wrote,
        measured from before the write."""
        account = self.budgets.account(key.key_id)
        period = account.period_start or key.period_start
        started = self.now()
        now_ms = _ms(started)

        def build(stored: LeaseTable | None) -> Grant:
            table = leases.for_period(stored, period, key.budget_micro_usd)
            if table is None:
                raise RateLimited(NEW_PERIOD, retry_after_seconds=1)
            lease = account.lease
            limit = lease.limit if lease is not None and lease.period == period else 0
            return rule(
                table,
                self.gateway_id,
                used=self.budgets.used_micro(key.key_id),
                limit=limit,
                now_ms=now_ms,
                ttl_ms=int(self.timing.ttl_seconds * 1000),
                grace_ms=int(self.timing.grace_seconds * 1000),
                **asked,
            )

        try:
            async with asyncio.timeout(self.timing.timeout_seconds):
                grant = await self.store.write(key.key_id, build)
        except (TimeoutError, Unreachable, Contended) as exc:
            log.warning("budget_lease_write_failed", key_id=str(key.key_id), error=repr(exc))
            raise RateLimited(UNREACHABLE, retry_after_seconds=2) from exc
        mine = grant.table.leases[self.gateway_id]
        # Measured from before the write (or from the expiry left as it was, if nothing was
        # written), so our clock stops admitting before any other replica may take it back.
        expires = datetime.fromtimestamp(mine.expires_ms / 1000, started.tzinfo)
        until = min(started + timedelta(seconds=self.timing.ttl_seconds), expires) - timedelta(
            seconds=self.timing.margin_seconds
        )
        self.budgets.grant(key.key_id, LocalLease(period, grant.limit, until, mine.used, started))
        return grant
