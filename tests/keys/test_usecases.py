"""Key use cases without HTTP or NATS: what they append, and what a refusal leaves alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from contracts.events import KeyIssued, KeyRevoked, Renewal
from services.keys.errors import Conflict, InvalidInput
from services.keys.usecases.keys import KeyEdit, KeySpec, edit_key, issue_key
from tests.keys.conftest import ROOT, UseCases

NOW = datetime(2030, 3, 4, 12, tzinfo=UTC)


def spec(until: datetime | None = None) -> KeySpec:
    return KeySpec(Decimal("2"), Renewal.NONE, None, until)


async def test_a_key_whose_window_ended_is_refused_and_nothing_is_appended(
    usecases: UseCases,
) -> None:
    usecases.clock.set(NOW)
    before = await usecases.events()
    with pytest.raises(InvalidInput, match="is in the past"):
        await issue_key(usecases.ctx, ROOT, "s1", spec(NOW - timedelta(hours=1)), replace=False)
    assert await usecases.events() == before


async def test_replacing_revokes_the_old_key_and_only_the_new_ones_window_may_change(
    usecases: UseCases,
) -> None:
    usecases.clock.set(NOW)
    _, old = await issue_key(usecases.ctx, ROOT, "s1", spec(), replace=False)
    with pytest.raises(Conflict, match="already has an active key"):
        await issue_key(usecases.ctx, ROOT, "s1", spec(), replace=False)
    _, new = await issue_key(usecases.ctx, ROOT, "s1", spec(), replace=True)
    events = await usecases.events()
    assert [type(e) for e in events[-2:]] == [KeyRevoked, KeyIssued]
    edit = KeyEdit(frozenset({"valid_until"}), valid_until=NOW + timedelta(days=5))
    with pytest.raises(Conflict, match="revoked"):
        await edit_key(usecases.ctx, ROOT, old.key_id, edit)
    changed = await edit_key(usecases.ctx, ROOT, new.key_id, edit)
    assert changed.valid_until == NOW + timedelta(days=5)
    assert len(await usecases.events()) == len(events) + 1
