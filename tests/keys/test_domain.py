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
from services.keys.domain.keys import (
    ChangeValidity,
    IssueKey,
    KeyState,
    NoKey,
    RenewBudget,
    Status,
    decide,
    evolve,
    why_no_key,
)
from services.keys.errors import Conflict, InvalidInput, StaleConfirmation

NOW = datetime(2030, 3, 6, 10, tzinfo=UTC)  # a Wednesday
DAY = timedelta(days=1)


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


def test_a_window_ending_in_the_past_or_before_its_start_is_refused_by_decide() -> None:
    with pytest.raises(InvalidInput, match="is in the past"):
        decide(None, command(valid_until=NOW - timedelta(minutes=1)), NOW, uuid.uuid4)
    state = issued_state()
    with pytest.raises(InvalidInput, match="is in the past"):
        decide(state, ChangeValidity(None, NOW, "admin"), NOW, uuid.uuid4)
    with pytest.raises(InvalidInput, match="must be after valid_from"):
        decide(state, ChangeValidity(NOW + DAY, NOW + DAY, "admin"), NOW, uuid.uuid4)


def test_only_the_users_latest_key_may_change_its_window() -> None:
    old = issued_state()
    change = ChangeValidity(None, NOW + DAY, "admin", latest_key_id=uuid.uuid4())
    with pytest.raises(Conflict, match="not the user's latest key"):
        decide(old, change, NOW, uuid.uuid4)
    [event] = decide(old, ChangeValidity(None, NOW + DAY, "admin", old.key_id), NOW, uuid.uuid4)
    assert event.type == "ValidityChanged"


def test_why_no_key_names_the_first_reason_in_order() -> None:
    live = issued_state()
    assert why_no_key(live, active=False, linked=False, school_id="s", now=NOW) is NoKey.DISABLED
    assert why_no_key(live, active=True, linked=False, school_id="s", now=NOW) is NoKey.UNLINKED
    assert why_no_key(live, active=True, linked=True, school_id="x", now=NOW) is NoKey.OTHER_SCHOOL
    assert why_no_key(live, active=True, linked=True, school_id="s", now=NOW) is NoKey.HAS_KEY
    ended = issued_state(valid_until=NOW + DAY)
    later = NOW + 2 * DAY
    assert why_no_key(ended, active=True, linked=True, school_id="s", now=later) is None
    with pytest.raises(Conflict, match="another school"):
        decide(live, command(school_id="x", replace=True), NOW, uuid.uuid4)


def test_a_command_decide_does_not_know_fails_loudly() -> None:
    with pytest.raises(AssertionError):
        decide(issued_state(), object(), NOW, uuid.uuid4)  # type: ignore[arg-type]


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
