"""Two writers at once: a user still ends up with one active key."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal

from contracts.events import KeyIssued, Renewal
from services.keys.domain.projection import ReadModel
from services.keys.errors import Conflict
from services.keys.usecases.keys import KeySpec, issue_key
from services.keys.usecases.projector import Projector
from tests.keys.conftest import ROOT, UseCases


async def test_two_replicas_creating_a_key_for_the_same_user_issue_one(
    usecases: UseCases,
) -> None:
    ctx = usecases.ctx
    other = dataclasses.replace(ctx, projector=Projector(ctx.projector.store, ReadModel()))
    await other.projector.catch_up()
    spec = KeySpec(Decimal(1), Renewal.NONE, None, None)
    results = await asyncio.gather(
        issue_key(ctx, ROOT, "t1", spec, replace=False),
        issue_key(other, ROOT, "t1", spec, replace=False),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Conflict) for r in results) == 1
    assert sum(isinstance(e, KeyIssued) for e in await usecases.events()) == 1
