"""The budget lease rule (services/gateway/domain/leases.py): replicas never grant past the
budget."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.domain import leases
from services.gateway.domain.leases import Lease, LeaseTable

PERIOD = datetime(2026, 12, 1, tzinfo=UTC)
TTL, GRACE = 30_000, 1_000
TIMES = {"ttl_ms": TTL, "grace_ms": GRACE}


def test_a_first_take_gets_half_of_the_budget_and_admits_within_a_slice_of_it() -> None:
    table = LeaseTable(PERIOD, 1_000)
    half = leases.take(table, "a", used=0, limit=0, need=10, want=10, now_ms=0, **TIMES)
    assert half.table.leases["a"] == Lease(500, 0, 125, TTL)
    assert half.limit == 125 and half.covers(0, 10)
    most = leases.take(table, "a", used=0, limit=0, need=10, want=800, now_ms=0, **TIMES)
    assert most.table.leases["a"].granted == most.limit == 800
    everything = leases.take(table, "a", used=0, limit=0, need=10, want=5_000, now_ms=0, **TIMES)
    assert everything.table.granted() == 1_000


def test_a_report_renews_the_slice_and_keeps_what_could_be_admitted_before_it() -> None:
    table = LeaseTable(PERIOD, 1_000, {"a": Lease(500, 0, 125, TTL)})
    report = leases.renew(table, "a", used=120, limit=125, now_ms=10, **TIMES)
    assert report.limit == 120 + 380 // 4
    assert report.table.leases["a"] == Lease(500, 120, 215, 10 + TTL)
    settled = leases.renew(report.table, "a", used=20, limit=215, now_ms=20, **TIMES)
    assert settled.limit == 20 + 480 // 4 and settled.table.leases["a"].keep == 215


def test_a_take_that_does_not_fit_keeps_the_grant_and_asks_the_others_for_a_while() -> None:
    table = LeaseTable(PERIOD, 1_000, {"b": Lease(900, 100, 300, TTL)})
    short = leases.take(table, "a", used=0, limit=0, need=200, want=200, now_ms=0, **TIMES)
    assert short.limit == 0 and not short.covers(0, 200)
    assert short.table.wanted_until("b", 0) == leases.WANT_MS
    assert short.table.wanted_until("b", leases.WANT_MS) == 0  # a want lapses
    back = leases.give_back(short.table, "b", used=100, limit=300, now_ms=10, **TIMES)
    assert back.table.leases["b"] == Lease(300, 100, 300, 10 + TTL)
    again = leases.take(back.table, "a", used=0, limit=0, need=200, want=200, now_ms=20, **TIMES)
    assert again.covers(0, 200) and again.table.granted() <= 1_000


def test_an_expired_grant_comes_back_down_to_its_keep_only_after_the_grace() -> None:
    table = LeaseTable(PERIOD, 1_000, {"dead": Lease(800, 300, 400, expires_ms=TTL)})
    kwargs = {"used": 0, "limit": 0, "need": 400, "want": 400, **TIMES}
    early = leases.take(table, "a", now_ms=TTL + GRACE - 1, **kwargs)
    assert not early.covers(0, 400)
    late = leases.take(table, "a", now_ms=TTL + GRACE, **kwargs)
    assert late.table.leases["dead"] == Lease(400, 300, 400, TTL)
    assert late.covers(0, 400) and late.table.granted() <= 1_000


def test_a_table_of_an_earlier_period_starts_over_and_a_later_one_is_not_written() -> None:
    old = LeaseTable(PERIOD - timedelta(days=7), 1_000, {"b": Lease(1_000, 1_000, 1_000, 10**15)})
    assert leases.for_period(old, PERIOD, 2_000) == LeaseTable(PERIOD, 2_000)
    newer = LeaseTable(PERIOD + timedelta(days=7), 1_000)
    assert leases.for_period(newer, PERIOD, 1_000) is None
    assert leases.for_period(None, PERIOD, 5) == LeaseTable(PERIOD, 5)


def test_a_table_round_trips_through_its_stored_form() -> None:
    table = LeaseTable(PERIOD, 7, {"g-1": Lease(5, 2, 3, 123, 456), "2": Lease(1, 1, 1, 9)})
    assert leases.decode(leases.encode(table)) == table
    assert table.holders("g-1", 0) == 1  # "2" holds nothing unused
    assert table.holders("2", 0) == 2


def test_giving_back_what_is_already_given_back_writes_nothing() -> None:
    table = LeaseTable(PERIOD, 100, {"a": Lease(40, 40, 40, 5)})
    assert leases.give_back(table, "a", used=40, limit=40, now_ms=9, **TIMES).table is table


# --- many replicas, random steps: what they admit together never passes the budget ---


@dataclass
class Replica:
    used: int = 0  # spend this period plus requests in flight
    limit: int = 0  # what it may admit up to until its next write
    until_ms: int = 0  # its own clock stops admitting here
    connected: bool = True  # False: cut off from NATS, or killed: it writes no more


@dataclass
class World:
    budget: int
    table: LeaseTable = field(init=False)
    replicas: dict[str, Replica] = field(default_factory=dict)
    now_ms: int = 0

    def __post_init__(self) -> None:
        self.table = LeaseTable(PERIOD, self.budget)

    def step(self, op: str, name: str, amount: int) -> None:
        replica = self.replicas.setdefault(name, Replica())
        mine = {"used": replica.used, "limit": replica.limit, "now_ms": self.now_ms, **TIMES}
        grant = None
        match op:
            case "take" if replica.connected:
                grant = leases.take(self.table, name, need=amount, want=2 * amount, **mine)
            case "admit" if (
                replica.used + amount <= replica.limit and self.now_ms < replica.until_ms
            ):
                replica.used += amount
            case "settle":
                replica.used -= min(amount, replica.used) // 2  # a request cost less than it held
            case "give" if replica.connected:
                replica.limit = min(replica.limit, replica.used)  # lowered before the write
                grant = leases.give_back(self.table, name, **{**mine, "limit": replica.limit})
            case "report" if replica.connected:
                grant = leases.renew(self.table, name, **mine)
            case "cut":
                replica.connected = False
            case "wait":
                self.now_ms += amount * 100
        if grant is not None:
            self.table, replica.limit = grant.table, grant.limit
            replica.until_ms = self.now_ms + TTL

    def check(self) -> None:
        assert self.table.granted() <= self.budget
        assert sum(r.used for r in self.replicas.values()) <= self.budget
        for name, replica in self.replicas.items():
            lease = self.table.leases.get(name)
            assert lease is None or replica.used <= lease.keep <= lease.granted


STEPS = st.tuples(
    st.sampled_from(["take", "admit", "admit", "settle", "give", "report", "cut", "wait"]),
    st.sampled_from(["a", "b", "c"]),
    st.integers(1, 400),
)


@settings(max_examples=500, deadline=None)
@given(budget=st.integers(0, 5_000), steps=st.lists(STEPS, max_size=100))
def test_replicas_never_admit_past_the_budget_together_even_when_cut_off_or_killed(
    budget: int, steps: list[tuple[str, str, int]]
) -> None:
    world = World(budget)
    for op, name, amount in steps:
        world.step(op, name, amount)
        world.check()
