"""The pure parts: decisions, period boundaries, input rules, confirmation tokens."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from contracts.events import BudgetRenewed, KeyIssued, KeyRevoked, Renewal, Role
from contracts.periods import period_start
from services.keys.domain import confirm, rules
from services.keys.domain.keys import IssueKey, KeyState, RenewBudget, Status, decide, evolve
from services.keys.errors import Conflict, InvalidInput, StaleConfirmation

NOW = datetime(2030, 3, 6, 10, tzinfo=UTC)  # a Wednesday


def command(**changes: object) -> IssueKey:
    fields: dict[str, object] = {
        "key_id": uuid.uuid4(),
        "key_hash": "h",
        "key_hint": "sk-ais-…abcd",
        "user_id": "u",
        "user_linked": True,
        "role": Role.STUDENT,
        "school_id": "s",
        "group_id": None,
        "budget_micro_usd": 1_000_000,
        "renewal": Renewal.DAILY,
        "valid_from": None,
        "valid_until": None,
        "batch_id": None,
        "issued_by": "admin",
    }
    return IssueKey(**{**fields, **changes})  # type: ignore[arg-type]


def issued_state(**changes: object) -> KeyState:
    [event] = decide(None, command(**changes), NOW, uuid.uuid4)
    state = evolve(None, event)
    assert state is not None
    return state


def test_issuing_records_the_hash_and_starts_the_period_now() -> None:
    [event] = decide(None, command(), NOW, uuid.uuid4)
    assert isinstance(event, KeyIssued)
    assert (event.key_hash, event.period_start) == ("h", NOW)


def test_a_second_key_needs_replace_and_replace_revokes_the_first() -> None:
    first = issued_state()
    with pytest.raises(Conflict, match="already has an active key"):
        decide(first, command(), NOW, uuid.uuid4)
    revoked, issued = decide(first, command(replace=True), NOW, uuid.uuid4)
    assert isinstance(revoked, KeyRevoked) and revoked.key_id == first.key_id
    assert isinstance(issued, KeyIssued)


def test_renewal_is_decided_once_per_boundary() -> None:
    state = issued_state()
    boundary = NOW + timedelta(hours=14)
    [event] = decide(state, RenewBudget(boundary), boundary, uuid.uuid4)
    assert isinstance(event, BudgetRenewed)
    renewed = evolve(state, event)
    assert decide(renewed, RenewBudget(boundary), boundary, uuid.uuid4) == []


def test_status_precedence() -> None:
    later = issued_state(valid_from=NOW + timedelta(days=1), valid_until=NOW + timedelta(days=2))
    assert later.status(NOW) is Status.NOT_YET_VALID
    assert later.status(NOW + timedelta(days=3)) is Status.EXPIRED
    revoked = KeyRevoked(
        event_id=uuid.uuid4(), occurred_at=NOW, key_id=later.key_id, revoked_by="a", reason="r"
    )
    after = evolve(later, revoked)
    assert after is not None and after.status(NOW) is Status.REVOKED


@pytest.mark.parametrize(
    ("renewal", "zone", "expected"),
    [
        (Renewal.DAILY, "Europe/Amsterdam", datetime(2030, 3, 5, 23, tzinfo=UTC)),
        (Renewal.WEEKLY, "Europe/Amsterdam", datetime(2030, 3, 3, 23, tzinfo=UTC)),
        (Renewal.MONTHLY, "America/New_York", datetime(2030, 3, 1, 5, tzinfo=UTC)),
        (
            Renewal.DAILY,
            "Pacific/Auckland",
            datetime(2030, 3, 6, 11, tzinfo=UTC) - timedelta(days=1),
        ),
        (Renewal.NONE, "UTC", None),
    ],
)
def test_boundaries_are_local_midnights(renewal: Renewal, zone: str, expected: object) -> None:
    assert period_start(renewal, NOW, ZoneInfo(zone)) == expected


def test_a_boundary_across_a_dst_change_is_local_midnight() -> None:
    # 30 March 2030 to 31 March: Amsterdam moves from UTC+1 to UTC+2 at 02:00.
    after = datetime(2030, 3, 31, 12, tzinfo=UTC)
    assert period_start(Renewal.DAILY, after, ZoneInfo("Europe/Amsterdam")) == datetime(
        2030, 3, 30, 23, tzinfo=UTC
    )


def test_budget_rules() -> None:
    assert rules.budget_micro(Decimal("12.34"), Decimal(1000)) == 12_340_000
    with pytest.raises(InvalidInput, match="finite"):
        rules.budget_micro(Decimal("Infinity"), Decimal(1000))
    with pytest.raises(InvalidInput, match="at most"):
        rules.budget_micro(Decimal("1e100000"), Decimal(1000))
    with pytest.raises(InvalidInput, match="whole cents"):
        rules.budget_micro(Decimal("1e-100000"), Decimal(1000))


def test_unknown_time_zone_is_a_precise_error() -> None:
    with pytest.raises(InvalidInput, match="not an IANA time zone"):
        rules.zone("Mars/Olympus")


def test_confirmation_token_binds_group_keys_and_expiry() -> None:
    keys = [uuid.uuid4(), uuid.uuid4()]
    token, expires = confirm.make_token(b"s", "g", keys, NOW)
    confirm.check_token(b"s", token, "g", reversed(keys), NOW)
    for group, ids, now in (
        ("g", keys[:1], NOW),
        ("h", keys, NOW),
        ("g", keys, expires + timedelta(seconds=1)),
    ):
        with pytest.raises(StaleConfirmation):
            confirm.check_token(b"s", token, group, ids, now)
