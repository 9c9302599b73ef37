"""Hard budgets: reserve what a request may cost before forwarding, settle after. Pure.

A request is admitted only if what is left of the key's budget (budget - settled spend -
open reservations) pays for its estimated prompt and a useful answer; its output cap is then
lowered to what is left, and that whole maximum cost is reserved. So the reservations of all
requests in flight never add up to more than the budget, and spend never exceeds it as long
as the upstream counts no more tokens than our estimate (docs/gateway.md says when it can).
Spend of other replicas arrives as ``RequestMetered`` from USAGE and counts the same way.

With several replicas (``leased``), a request must also fit in this replica's budget lease
(``leases.py``): its own spend this period plus its requests in flight stay within what the
lease table granted it. When they would not, ``admissible`` raises ``LeaseShort`` and the
caller asks the bucket for more (one round trip), then tries once again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from contracts.events import (
    BudgetChanged,
    BudgetRenewed,
    EventBase,
    RequestMetered,
)
from contracts.money import format_usd
from contracts.periods import next_boundary, period_start
from services.gateway.domain.projection import KeyRecord, ask_for_more, format_time
from services.gateway.errors import InsufficientQuota, RateLimited


@dataclass
class LocalLease:
    """This replica's grant for a key in one period, as the lease table last gave it."""

    period: datetime
    limit: int  # what we may admit up to, in all, until our next write (used + slice)
    until: datetime  # our clock; a margin before the table's expiry
    reported: int  # the used we last wrote
    last_admitted: datetime


class LeaseShort(Exception):
    """This replica's lease cannot pay for the request: ask the lease table for more."""

    def __init__(self, need_micro: int, want_micro: int) -> None:
        super().__init__(need_micro)
        self.need_micro, self.want_micro = need_micro, want_micro


@dataclass(slots=True)
class Account:
    """One key's spend in its current period (slots: there is one per key in use)."""

    period_start: datetime | None = None
    spent_micro: int = 0
    reserved_micro: int = 0
    # The next period boundary, once a request of ours looked before it passed, and the spend
    # at or after it: at the boundary that spend becomes the new period's, without waiting for
    # the keys service's BudgetRenewed (which comes up to a renewal interval later).
    renews_at: datetime | None = None
    spent_after_micro: int = 0
    # The part of that spend settled by this replica (its lease covers it), split the same way.
    own_micro: int = 0
    own_after_micro: int = 0
    lease: LocalLease | None = None


@dataclass(frozen=True)
class Reservation:
    """Budget held for one request in flight."""

    key_id: UUID
    amount_micro: int
    at: datetime


@dataclass
class Budgets:
    """Spend and reservations per key, fed by KEYS and USAGE events and by our requests."""

    # The key's budget period start as the key projection holds it (from KeyIssued and
    # BudgetRenewed): an account is made on the key's first use or spend, not for each of
    # the million keys a gateway replays, and starts in that period.
    key_period: Callable[[UUID], datetime | None]
    accounts: dict[UUID, Account] = field(default_factory=dict)
    # Requests we settled here whose RequestMetered has not come back from USAGE yet: when
    # it does, it is skipped, so our own spend counts once (also after a restart, when this
    # set is empty and USAGE is the only record of what we spent before).
    settled_here: set[UUID] = field(default_factory=set)
    # Our own RequestMetered events carry this gateway id (also those of an earlier run).
    gateway_id: str = ""
    leased: bool = False

    def account(self, key_id: UUID) -> Account:
        """The key's account, created on first use in the key's period."""
        account = self.accounts.get(key_id)
        if account is None:
            account = self.accounts[key_id] = Account()
        if account.period_start is None:  # also when USAGE named the key before KEYS did
            account.period_start = self.key_period(key_id)
        return account

    def apply(self, event: EventBase) -> None:
        """Apply a KEYS or USAGE event that moves a budget period or spend."""
        match event:
            # A key without an account yet has nothing to move: the account it gets on first
            # use starts in the period the projection holds by then.
            case BudgetRenewed():
                if (account := self.accounts.get(event.key_id)) is not None:
                    self._renew(account, event)
            case BudgetChanged():  # the renewal may have changed
                if (account := self.accounts.get(event.key_id)) is not None:
                    self._unsplit(account)
            case RequestMetered():
                if event.request_id in self.settled_here:
                    self.settled_here.discard(event.request_id)
                else:
                    own = event.gateway_id == self.gateway_id
                    self._spend(event.key_id, event.cost_micro_usd, event.at, own=own)

    @staticmethod
    def _renew(account: Account, event: BudgetRenewed) -> None:
        if account.period_start is None or event.period_start > account.period_start:
            tracked = account.renews_at is not None and event.period_start >= account.renews_at
            account.period_start = event.period_start
            # Spend since a boundary we tracked is the new period's (if the renewal skipped
            # periods it may include older spend: counting too much is the safe side).
            account.spent_micro = account.spent_after_micro if tracked else 0
            account.own_micro = account.own_after_micro if tracked else 0
            account.spent_after_micro, account.own_after_micro, account.renews_at = 0, 0, None

    @staticmethod
    def _unsplit(account: Account) -> None:
        account.spent_micro += account.spent_after_micro
        account.own_micro += account.own_after_micro
        account.spent_after_micro, account.own_after_micro, account.renews_at = 0, 0, None

    def _spend(self, key_id: UUID, cost_micro: int, at: datetime, *, own: bool) -> None:
        account = self.account(key_id)
        mine = cost_micro if own else 0
        if account.renews_at is not None and at >= account.renews_at:
            account.spent_after_micro += cost_micro
            account.own_after_micro += mine
        elif account.period_start is None or at >= account.period_start:
            account.spent_micro += cost_micro
            account.own_micro += mine

    def left_micro(self, key: KeyRecord) -> int:
        """What is left of the key's budget after spend and open reservations."""
        account = self.account(key.key_id)
        return key.budget_micro_usd - account.spent_micro - account.reserved_micro

    def admissible(
        self,
        key: KeyRecord,
        need_micro: int,
        now: datetime,
        zone: ZoneInfo,
        want_micro: int = 0,
    ) -> int:
        """What is left for a request that needs at least ``need_micro``, or raise:
        InsufficientQuota when spend leaves too little, RateLimited when only this key's
        requests in flight hold what it needs (retrying soon may succeed), LeaseShort when
        this replica's lease cannot pay for it (``want_micro`` is what would pay in full)."""
        account = self.account(key.key_id)
        self._roll(account, key, now, zone)
        renewal = account.renews_at or renews_at(key, zone)
        unspent = key.budget_micro_usd - account.spent_micro
        if unspent <= 0:
            raise InsufficientQuota(exhausted_message(key, account.spent_micro, renewal, zone))
        if need_micro > unspent:
            raise InsufficientQuota(too_little_message(key, need_micro, unspent, renewal, zone))
        left = unspent - account.reserved_micro
        if need_micro > left:
            raise RateLimited(
                "This key's other requests in progress hold the rest of its budget;"
                " try again when they have finished.",
                retry_after_seconds=1,
            )
        if self.leased:
            leased = self.lease_left(key.key_id, now)
            if need_micro > leased:
                raise LeaseShort(need_micro, max(want_micro, need_micro))
            left = min(left, leased)
        return left

    def lease_left(self, key_id: UUID, now: datetime) -> int:
        """What this replica's lease still lets it admit for the key now (0: none or expired)."""
        account = self.account(key_id)
        lease = account.lease
        if lease is None or lease.period != account.period_start or now >= lease.until:
            return 0
        return lease.limit - self.used_micro(key_id)

    def used_micro(self, key_id: UUID) -> int:
        """What this replica's lease must cover: its spend this period and its reservations."""
        account = self.account(key_id)
        return account.own_micro + account.reserved_micro

    def grant(self, key_id: UUID, lease: LocalLease) -> None:
        """Take the grant the lease table gave us (its last admission kept, if any)."""
        account = self.account(key_id)
        if account.lease is not None and account.lease.period == lease.period:
            lease.last_admitted = account.lease.last_admitted
        account.lease = lease

    def hold(self, key: KeyRecord, amount_micro: int, now: datetime) -> Reservation:
        """Reserve ``amount_micro``, which ``admissible`` said is left (checked again)."""
        if amount_micro > self.left_micro(key):
            raise AssertionError("a reservation larger than what is left")  # a bug, not input
        account = self.account(key.key_id)
        account.reserved_micro += amount_micro
        if account.lease is not None:
            account.lease.last_admitted = now
        return Reservation(key.key_id, amount_micro, now)

    @staticmethod
    def _roll(account: Account, key: KeyRecord, now: datetime, zone: ZoneInfo) -> None:
        """Start the new period at its boundary (``contracts/periods.py``), by ourselves."""
        if account.period_start is None:
            return
        if account.renews_at is None:
            boundary = next_boundary(key.renewal, account.period_start, zone)
            # Track only a boundary still ahead: spend already counted was not split at one
            # that passed, so that period ends with the keys service's BudgetRenewed.
            account.renews_at = boundary if boundary is not None and boundary > now else None
        elif now >= account.renews_at:
            account.period_start = period_start(key.renewal, now, zone)
            account.spent_micro, account.spent_after_micro = account.spent_after_micro, 0
            account.own_micro, account.own_after_micro = account.own_after_micro, 0
            account.renews_at = next_boundary(key.renewal, now, zone)

    def reserve(
        self, key: KeyRecord, amount_micro: int, now: datetime, zone: ZoneInfo
    ) -> Reservation:
        """Hold exactly ``amount_micro`` for a request, or raise as ``admissible`` does."""
        self.admissible(key, amount_micro, now, zone)
        return self.hold(key, amount_micro, now)

    def settle(self, reservation: Reservation, request_id: UUID, cost_micro: int) -> None:
        """Replace a reservation by the request's real cost, metered as ``request_id``."""
        self.release(reservation)
        self._spend(reservation.key_id, cost_micro, reservation.at, own=True)
        self.settled_here.add(request_id)

    def release(self, reservation: Reservation) -> None:
        """Give a reservation back unused (the request never reached the upstream)."""
        self.account(reservation.key_id).reserved_micro -= reservation.amount_micro

    def reserved_micro(self) -> int:
        """Budget held by requests in flight, over all keys."""
        return sum(account.reserved_micro for account in self.accounts.values())

    def restore(self, event: RequestMetered) -> None:
        """Count a spooled event of ours that USAGE may not have yet (at start-up)."""
        self._spend(event.key_id, event.cost_micro_usd, event.at, own=True)
        self.settled_here.add(event.request_id)


def renews_at(key: KeyRecord, zone: ZoneInfo) -> datetime | None:
    """When the key's next budget period begins (the school's midnight, Monday 00:00 or the
    1st), or None if it does not renew."""
    return next_boundary(key.renewal, key.period_start, zone)


def _renews(key: KeyRecord, renewal: datetime | None, zone: ZoneInfo) -> str:
    """When a budget comes back, or whom to ask for more when it never does."""
    if renewal is not None:
        return f"It renews on {format_time(renewal, zone)}."
    return f"It does not renew. {ask_for_more(key.role, 'more')}"


def exhausted_message(
    key: KeyRecord, spent_micro: int, renewal: datetime | None, zone: ZoneInfo
) -> str:
    """What a student reads when the budget is spent: the budget and when it renews."""
    budget = format_usd(key.budget_micro_usd)
    used = format_usd(spent_micro)
    return f"You have used {used} of this key's budget of {budget}. {_renews(key, renewal, zone)}"


def too_little_message(
    key: KeyRecord, need_micro: int, unspent_micro: int, renewal: datetime | None, zone: ZoneInfo
) -> str:
    """What a student reads when what is left cannot pay for this request."""
    return (
        f"This request needs about {format_usd(need_micro)} and {format_usd(unspent_micro)} is"
        f" left of this key's budget of {format_usd(key.budget_micro_usd)}. Send a shorter"
        f" request (less context, or a lower max_tokens), or wait: {_renews(key, renewal, zone)}"
    )
