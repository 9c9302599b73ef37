"""The pure parts: budgets, prices, limits and the key projection, with plain data."""

from __future__ import annotations

import dataclasses
import math
import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.events import (
    BudgetChanged,
    BudgetRenewed,
    KeyIssued,
    Renewal,
    RequestMetered,
    Role,
    ValidityChanged,
)
from services.gateway.domain.budget import Budgets, renews_at
from services.gateway.domain.limits import Limit, RateLimiter
from services.gateway.domain.pricing import ModelsConfigError, Usage, demo_model, parse_models
from services.gateway.domain.projection import KeyProjection
from services.gateway.errors import InsufficientQuota, InvalidApiKey, RateLimited
from tests.fakes.events import request_metered

T0 = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Amsterdam")
HEAD = '[models.m]\nbase_url = "u"\n'


def issued(**changes: object) -> KeyIssued:
    values: dict[str, object] = {
        "event_id": uuid.uuid4(),
        "occurred_at": T0,
        "key_id": uuid.uuid4(),
        "key_hash": "h" * 64,
        "key_hint": "sk-ais-…abcd",
        "user_id": "u1",
        "role": Role.STUDENT,
        "school_id": "s1",
        "group_id": None,
        "budget_micro_usd": 1000,
        "renewal": Renewal.MONTHLY,
        "period_start": T0,
        "valid_from": None,
        "valid_until": None,
        "batch_id": None,
        "issued_by": "a1",
        **changes,
    }
    return KeyIssued.model_validate(values)


def metered(
    key_id: uuid.UUID, cost: int, at: datetime, request_id: uuid.UUID | None = None
) -> RequestMetered:
    return request_metered(
        request_id=request_id, key_id=key_id, prompt_tokens=1, completion_tokens=1,
        cost_micro_usd=cost, gateway_id="other", at=at,
    )  # fmt: skip


def setup(**changes: object) -> tuple[KeyProjection, Budgets, KeyIssued]:
    projection, event = KeyProjection(), issued(**changes)
    budgets = Budgets(projection.period_start_of)
    projection.apply(event)
    budgets.apply(event)
    return projection, budgets, event


def test_concurrent_reservations_never_hold_more_than_the_budget() -> None:
    projection, budgets, event = setup()  # a budget of 1000 micro-USD
    key = projection.authenticate(event.key_hash, T0)
    held = [budgets.reserve(key, 300, T0, ZONE) for _ in range(3)]
    # 100 is left, held by requests in flight: a 429 to retry shortly, not "exhausted".
    with pytest.raises(RateLimited) as held_back:
        budgets.reserve(key, 300, T0, ZONE)
    assert held_back.value.status == 429 and held_back.value.headers["retry-after"] == "1"
    for reservation in held:
        budgets.settle(reservation, uuid.uuid4(), 200)
    assert budgets.account(event.key_id).spent_micro == 600
    budgets.settle(budgets.reserve(key, 300, T0, ZONE), uuid.uuid4(), 250)
    with pytest.raises(InsufficientQuota) as caught:
        budgets.reserve(key, 300, T0, ZONE)
    assert caught.value.message.startswith(
        "This request needs about $0.0003 and $0.00015 is left of this key's budget of $0.001."
    )
    assert "renews on 2026-02-01 00:00 (Europe/Amsterdam)" in caught.value.message
    budgets.settle(budgets.reserve(key, 150, T0, ZONE), uuid.uuid4(), 150)
    with pytest.raises(InsufficientQuota) as spent:
        budgets.reserve(key, 1, T0, ZONE)
    assert "You have used $0.001 of this key's budget of $0.001" in spent.value.message


@settings(max_examples=200, deadline=None)
@given(
    budget=st.integers(1, 10_000_000),
    prompt=st.integers(0, 20_000),
    asked=st.integers(1, 8_000),
    answers=st.integers(1, 4),
    spent=st.integers(0, 10_000_000),
)
def test_the_output_cap_never_costs_more_than_what_is_left(
    budget: int, prompt: int, asked: int, answers: int, spent: int
) -> None:
    model = parse_models(HEAD + "input_usd_per_million = 2.5\noutput_usd_per_million = 10")["m"]
    left = max(budget - spent, 0)
    cap = model.affordable_output(prompt, left, answers, asked)
    assert 0 <= cap <= asked
    if cap:
        assert model.max_cost_micro(prompt, cap * answers) <= left
    if cap < asked:  # one token more would not have been paid for
        assert model.max_cost_micro(prompt, (cap + 1) * answers) > left


def test_own_spend_coming_back_from_usage_counts_once_and_others_count() -> None:
    projection, budgets, event = setup()
    key = projection.authenticate(event.key_hash, T0)
    request_id = uuid.uuid4()
    budgets.settle(budgets.reserve(key, 300, T0, ZONE), request_id, 100)
    budgets.apply(metered(event.key_id, 100, T0, request_id))
    budgets.apply(metered(event.key_id, 50, T0))
    assert budgets.account(event.key_id).spent_micro == 150


def test_renewal_starts_a_new_period_and_older_spend_does_not_count() -> None:
    _, budgets, event = setup()
    budgets.apply(metered(event.key_id, 900, T0))
    later = T0 + timedelta(days=31)
    budgets.apply(
        BudgetRenewed(
            event_id=uuid.uuid4(), occurred_at=later, key_id=event.key_id,
            period_start=later, budget_micro_usd=1000,
        )
    )  # fmt: skip
    budgets.apply(metered(event.key_id, 5, T0 + timedelta(days=1)))
    assert budgets.account(event.key_id).spent_micro == 0


def renewed(key_id: uuid.UUID, at: datetime) -> BudgetRenewed:
    return BudgetRenewed(
        event_id=uuid.uuid4(), occurred_at=at, key_id=key_id, period_start=at,
        budget_micro_usd=1000,
    )  # fmt: skip


def test_a_key_replayed_without_use_has_no_account_and_its_first_starts_in_its_period() -> None:
    projection, event = KeyProjection(), issued()
    budgets = Budgets(projection.period_start_of)
    for moved in (projection, budgets):
        moved.apply(event)
        moved.apply(renewed(event.key_id, T0 + timedelta(days=31)))
    assert budgets.accounts == {}
    budgets.apply(metered(event.key_id, 5, T0 + timedelta(days=1)))  # of the old period
    budgets.apply(metered(event.key_id, 7, T0 + timedelta(days=32)))
    account = budgets.account(event.key_id)
    assert (account.period_start, account.spent_micro) == (T0 + timedelta(days=31), 7)


def test_spend_read_before_its_key_counts_and_the_account_then_takes_the_keys_period() -> None:
    projection, event = KeyProjection(), issued()
    budgets = Budgets(projection.period_start_of)
    budgets.apply(metered(event.key_id, 5, T0))  # USAGE is read alongside KEYS, maybe ahead
    projection.apply(event)
    budgets.apply(event)
    account = budgets.account(event.key_id)
    assert (account.period_start, account.spent_micro) == (T0, 5)


def test_a_monthly_key_renews_on_the_first_at_the_schools_midnight() -> None:
    projection, _, event = setup()
    key = projection.authenticate(event.key_hash, T0)
    assert renews_at(key, ZONE) == datetime(2026, 2, 1, 0, 0, tzinfo=ZONE)
    projection.apply(
        BudgetChanged(
            event_id=uuid.uuid4(), occurred_at=T0, key_id=event.key_id,
            budget_micro_usd=5, renewal=Renewal.NONE, changed_by="a1",
        )
    )  # fmt: skip
    key = projection.authenticate(event.key_hash, T0)
    assert renews_at(key, ZONE) is None and key.budget_micro_usd == 5


def test_validity_change_is_enforced_and_unknown_hash_is_refused() -> None:
    projection, _, event = setup()
    projection.apply(
        ValidityChanged(
            event_id=uuid.uuid4(), occurred_at=T0, key_id=event.key_id,
            valid_from=None, valid_until=T0, changed_by="a1",
        )
    )  # fmt: skip
    with pytest.raises(InvalidApiKey, match="expired"):
        projection.authenticate(event.key_hash, T0)
    with pytest.raises(InvalidApiKey, match="unknown"):
        projection.authenticate("0" * 64, T0)


def test_concurrency_limit_and_minute_window() -> None:
    limiter = RateLimiter({Role.STUDENT: Limit(3, 2), Role.STAFF: Limit(9, 9)})
    key = uuid.uuid4()
    limiter.acquire(key, Role.STUDENT, 0.0)
    limiter.acquire(key, Role.STUDENT, 1.0)
    with pytest.raises(RateLimited, match="at once"):
        limiter.acquire(key, Role.STUDENT, 2.0)
    limiter.release(key)
    limiter.acquire(key, Role.STUDENT, 3.0)
    limiter.release(key)
    with pytest.raises(RateLimited) as caught:
        limiter.acquire(key, Role.STUDENT, 30.0)
    assert caught.value.retry_after_seconds == 30
    limiter.acquire(key, Role.STUDENT, 60.0)


def test_cost_counts_cached_tokens_at_their_price_and_rounds_up() -> None:
    model = parse_models(
        '[models.m]\nbase_url = "http://x/v1"\ninput_usd_per_million = 2.5\n'
        'cached_input_usd_per_million = "1.25"\noutput_usd_per_million = 10\n'
    )["m"]
    assert model.input_usd_per_million == Decimal("2.5")
    assert model.cost_micro(Usage(100, 10, cached_tokens=40)) == 150 + 50 + 100
    assert model.cost_micro(Usage(1, 0)) == 3  # 2.5 rounds up
    assert model.output_cap(None) == 16_384 and model.output_cap(32_000) == 16_384


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[models.m]\ninput_usd_per_million = 1\noutput_usd_per_million = 1", "base_url"),
        (f'{HEAD}input_usd_per_million = "x"\noutput_usd_per_million = 1', "not a number"),
        (f"{HEAD}input_usd_per_million = -1\noutput_usd_per_million = 1", ">= 0"),
        ("models = 3", "no [models"),
        ("[models", "TOML"),
    ],
)  # fmt: skip
def test_a_bad_models_file_names_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ModelsConfigError, match=re.escape(message)):
        parse_models(text)


PRICES = st.sampled_from(["0", "0.075", "1.25E+1", "3", "0.000001", "15.00", "2.5", "1E+2"])


@settings(max_examples=300)
@given(
    prices=st.tuples(PRICES, PRICES, PRICES, st.one_of(st.none(), PRICES)),
    tokens=st.tuples(*[st.integers(0, 2_000_000)] * 4),
)
def test_cost_is_the_exact_decimal_cost_rounded_up(
    prices: tuple[str, str, str, str | None], tokens: tuple[int, int, int, int]
) -> None:
    # Costs are computed on whole numbers (pricing.py): the same as the Decimal formula.
    plain, cached_price, output, write = (None if p is None else Decimal(p) for p in prices)
    assert plain is not None and cached_price is not None and output is not None
    model = dataclasses.replace(
        demo_model(),
        input_usd_per_million=plain,
        cached_input_usd_per_million=cached_price,
        output_usd_per_million=output,
        cache_write_usd_per_million=write,
    )
    prompt, completion, cached, written = tokens
    usage = Usage(prompt, completion, cached, cache_write_tokens=written)
    cached = min(cached, prompt)
    written = min(written, prompt - cached)
    exact = (
        (prompt - cached - written) * plain
        + cached * cached_price
        + written * (write or plain)
        + completion * output
    )
    assert model.cost_micro(usage) == math.ceil(exact)


def test_demo_model_is_priced() -> None:
    assert demo_model().cost_micro(Usage(1000, 1000)) == 5000


def test_a_weekly_budget_renews_at_monday_midnight_without_waiting_for_budget_renewed() -> None:
    # Issued on Wednesday 4 November 2026; Monday 9 November 00:00 in Amsterdam is 23:00 UTC.
    issued_at = datetime(2026, 11, 4, 7, 43, tzinfo=UTC)
    monday = datetime(2026, 11, 8, 23, 0, tzinfo=UTC)
    projection, budgets, event = setup(
        renewal=Renewal.WEEKLY, period_start=issued_at, budget_micro_usd=1000
    )
    key = projection.authenticate(event.key_hash, issued_at)
    budgets.settle(budgets.reserve(key, 1000, issued_at, ZONE), uuid.uuid4(), 1000)
    with pytest.raises(InsufficientQuota) as caught:
        budgets.reserve(key, 10, monday - timedelta(seconds=1), ZONE)
    assert "renews on 2026-11-09 00:00 (Europe/Amsterdam)" in caught.value.message

    after = monday + timedelta(seconds=1)
    budgets.apply(metered(event.key_id, 300, after))  # another replica, in the new week
    budgets.settle(budgets.reserve(key, 100, after, ZONE), uuid.uuid4(), 100)
    assert budgets.account(event.key_id).spent_micro == 400
    # The keys service's renewal for the same boundary, later, changes nothing.
    budgets.apply(
        BudgetRenewed(
            event_id=uuid.uuid4(), occurred_at=after, key_id=event.key_id,
            period_start=monday, budget_micro_usd=1000,
        )
    )  # fmt: skip
    assert budgets.account(event.key_id).spent_micro == 400


def test_a_boundary_first_seen_after_it_passed_waits_for_budget_renewed() -> None:
    issued_at = datetime(2026, 11, 4, 7, 43, tzinfo=UTC)
    projection, budgets, event = setup(
        renewal=Renewal.DAILY, period_start=issued_at, budget_micro_usd=1000
    )
    key = projection.authenticate(event.key_hash, issued_at)
    budgets.apply(metered(event.key_id, 1000, issued_at))
    next_day = issued_at + timedelta(days=1)
    # Spend counted before we looked was not split at midnight: it stands until the renewal.
    with pytest.raises(InsufficientQuota):
        budgets.reserve(key, 10, next_day, ZONE)
    budgets.apply(
        BudgetRenewed(
            event_id=uuid.uuid4(), occurred_at=next_day, key_id=event.key_id,
            period_start=datetime(2026, 11, 4, 23, tzinfo=UTC), budget_micro_usd=1000,
        )
    )  # fmt: skip
    budgets.reserve(key, 10, next_day, ZONE)


def test_replicas_sharing_a_key_each_admit_their_part_of_its_limits() -> None:
    replicas = {"n": 3}
    limiter = RateLimiter(
        {Role.STUDENT: Limit(9, 6), Role.STAFF: Limit(9, 9)}, share=lambda key: replicas["n"]
    )
    key = uuid.uuid4()
    limiter.acquire(key, Role.STUDENT, 0.0)
    limiter.acquire(key, Role.STUDENT, 0.0)
    with pytest.raises(RateLimited, match="6 requests at once"):  # the key's limit; 2 here
        limiter.acquire(key, Role.STUDENT, 0.0)
    limiter.release(key)
    limiter.acquire(key, Role.STUDENT, 1.0)
    limiter.release(key)
    with pytest.raises(RateLimited, match="9 requests per minute"):  # 3 here
        limiter.acquire(key, Role.STUDENT, 2.0)
    replicas["n"] = 1  # the others gave their leases back: the whole limit is ours again
    limiter.acquire(key, Role.STUDENT, 3.0)
