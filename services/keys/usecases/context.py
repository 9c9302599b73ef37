"""What every use case shares: its context (ports and policies) and the retry on a race."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from contracts.events import EventBase
from services.keys.domain.keys import NewId
from services.keys.domain.projection import ReadModel
from services.keys.errors import Busy
from services.keys.usecases.ports import ConcurrencyError, StreamAppend
from services.keys.usecases.projector import Projector

T = TypeVar("T")
ATTEMPTS = 5


@dataclass(frozen=True)
class Context:
    """The ports and policies a use case needs, passed in."""

    projector: Projector
    secret: bytes
    max_budget_usd: Decimal
    clock: Callable[[], datetime]
    new_id: NewId
    base_url: str = "http://127.0.0.1:8100/v1"
    default_model: str = "demo"

    @property
    def model(self) -> ReadModel:
        return self.projector.model


async def with_retries(ctx: Context, attempt: Callable[[], Awaitable[T]]) -> T:
    """Run ``attempt`` on a caught-up model; on a concurrent write, catch up and decide again."""
    for _ in range(ATTEMPTS):
        await ctx.projector.catch_up()
        try:
            result = await attempt()
        except ConcurrencyError:
            continue
        await ctx.projector.catch_up()
        return result
    raise Busy("Other changes kept arriving at the same time; please try again.")


def key_appends(model: ReadModel, events: Iterable[EventBase]) -> list[StreamAppend]:
    """Key events grouped into one append per ``key:<id>`` stream at its current version."""
    grouped: dict[str, list[EventBase]] = {}
    for event in events:
        grouped.setdefault(f"key:{event.aggregate_id}", []).append(event)
    return [StreamAppend(s, model.version(s), evs) for s, evs in grouped.items()]


def school_time_zone(model: ReadModel, school_id: str) -> str:
    """The school's IANA time zone (UTC when the school is unknown)."""
    school = model.directory.schools.get(school_id)
    return school.time_zone if school else "UTC"
