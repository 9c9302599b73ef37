"""Refusals speak to the person holding the key: a student asks a teacher, staff an admin."""

from __future__ import annotations

import uuid

import pytest

from contracts.events import BudgetChanged, KeyRevoked, Renewal, Role
from services.gateway.errors import InsufficientQuota, InvalidApiKey
from tests.gateway.test_domain import T0, ZONE, setup


@pytest.mark.parametrize(
    ("role", "asks", "never"),
    [
        (Role.STUDENT, "Ask your teacher", "administrator"),
        (Role.STAFF, "Ask your school's administrator", "teacher"),
    ],
)
def test_a_revoked_key_says_whom_its_holder_asks(role: Role, asks: str, never: str) -> None:
    projection, _, event = setup(role=role)
    projection.apply(
        KeyRevoked(
            event_id=uuid.uuid4(), occurred_at=T0, key_id=event.key_id, revoked_by="a", reason="x"
        )
    )
    with pytest.raises(InvalidApiKey) as caught:
        projection.authenticate(event.key_hash, T0)
    assert asks in caught.value.message and never not in caught.value.message


def test_a_spent_staff_budget_that_does_not_renew_points_to_an_administrator() -> None:
    projection, budgets, event = setup(role=Role.STAFF)
    for moved in (projection, budgets):
        moved.apply(
            BudgetChanged(
                event_id=uuid.uuid4(), occurred_at=T0, key_id=event.key_id,
                budget_micro_usd=1000, renewal=Renewal.NONE, changed_by="a1",
            )
        )  # fmt: skip
    key = projection.authenticate(event.key_hash, T0)
    budgets.settle(budgets.reserve(key, 1000, T0, ZONE), uuid.uuid4(), 1000)  # all spent
    with pytest.raises(InsufficientQuota) as caught:
        budgets.reserve(key, 1000, T0, ZONE)
    assert "Ask your school's administrator for more." in caught.value.message
