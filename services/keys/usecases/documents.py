"""The documents a key can be printed on, as the use cases see them: a port (``Renderer``)
and what a render request holds. The NATS client is ``adapters/sheets.py``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from contracts.directory import User
from contracts.documents import KeyCard, KeySheetRequest
from contracts.events import Renewal
from services.keys.usecases.context import Context
from services.keys.usecases.keys import NewKey

Renderer = Callable[[KeySheetRequest], Awaitable[bytes]]


@dataclass(frozen=True)
class Documents:
    """The two documents a key can be printed on: a group's sheet, one person's letter."""

    sheet: Renderer
    letter: Renderer


def tell_apart(users: Sequence[User]) -> list[str | None]:
    """Per user, what tells them apart from another of the same name on the same sheet (their
    account, the roster's username; else their id), or None when their name is unique."""
    names = Counter(u.name.casefold() for u in users)
    return [u.account or u.user_id if names[u.name.casefold()] > 1 else None for u in users]


def document_request(
    ctx: Context,
    new: Sequence[tuple[User, NewKey]],
    renewal: Renewal,
    now: datetime,
    *,
    school_id: str,
    group_name: str | None,
    model: str | None,
) -> KeySheetRequest:
    """What documents needs to print ``new`` keys, which share budget and window; the model
    named in the setup lines is ``model``, else the configured default."""
    first = new[0][1].command
    school = ctx.model.directory.schools[school_id]
    return KeySheetRequest(
        language="nl" if school.language == "nl" else "en",
        school_name=school.name,
        time_zone=school.time_zone,
        group_name=group_name,
        issued_at=now,
        budget_micro_usd=first.budget_micro_usd,
        renewal=renewal,
        valid_from=first.valid_from,
        valid_until=first.valid_until,
        base_url=ctx.base_url,
        cards=tuple(
            KeyCard(name=u.name, key=n.plaintext, key_hint=n.command.key_hint, detail=d)
            for (u, n), d in zip(new, tell_apart([u for u, _ in new]), strict=True)
        ),
        model=model or ctx.default_model,
    )
