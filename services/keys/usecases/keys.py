"""Use cases for one key: load (read model) -> decide (domain) -> append (event store)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from contracts.apikeys import generate_key, hash_secret, key_hint
from contracts.directory import Admin, User
from contracts.events import EventBase, Renewal, Role
from services.keys import rules
from services.keys.catchup import Projector
from services.keys.domain import (
    ChangeBudget,
    ChangeValidity,
    Command,
    IssueKey,
    KeyState,
    NewId,
    RevokeKey,
    decide,
)
from services.keys.errors import Busy, Conflict, NotFound
from services.keys.projection import ReadModel
from services.keys.scope import visible_key, visible_user
from services.keys.store import ConcurrencyError, SlotClaim, StoredEvent, StreamAppend

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


@dataclass(frozen=True)
class KeySpec:
    """Budget, renewal and window as an administrator gave them (times maybe without offset)."""

    budget_usd: Decimal
    renewal: Renewal
    valid_from: datetime | None
    valid_until: datetime | None


@dataclass(frozen=True)
class NewKey:
    """A freshly made key: the plaintext exists only here and in the response."""

    plaintext: str
    command: IssueKey


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


def new_key_command(
    ctx: Context,
    admin: Admin,
    user: User,
    spec: KeySpec,
    *,
    group_id: str | None = None,
    batch_id: uuid.UUID | None = None,
    replace: bool = False,
    school_id: str | None = None,
) -> NewKey:
    """Validate the spec and make a key (plaintext + command) for ``user`` in ``school_id``
    (default: the first of the user's schools in scope)."""
    school_id = school_id or key_school(admin, user, ctx.model.current_key(user.user_id))
    zone = school_time_zone(ctx.model, school_id)
    valid_from = rules.aware(spec.valid_from, zone)
    valid_until = rules.aware(spec.valid_until, zone)
    rules.check_window(valid_from, valid_until, ctx.clock())
    plaintext = generate_key()
    command = IssueKey(
        key_id=ctx.new_id(),
        key_hash=hash_secret(plaintext, ctx.secret),
        key_hint=key_hint(plaintext),
        user_id=user.user_id,
        user_linked=user.linked,
        user_active=user.active,
        role=user.role,
        school_id=school_id,
        group_id=group_id or _group_of(ctx.model, user, school_id),
        budget_micro_usd=rules.budget_micro(spec.budget_usd, ctx.max_budget_usd),
        renewal=spec.renewal,
        valid_from=valid_from,
        valid_until=valid_until,
        batch_id=batch_id,
        issued_by=admin.admin_id,
        replace=replace,
    )
    return NewKey(plaintext, command)


def key_school(admin: Admin, user: User, current: KeyState | None = None) -> str:
    """The school a new key of ``user`` belongs to: that of the user's current key if the
    administrator sees it (a replacement stays where it was), else the first one it sees."""
    if (
        current is not None
        and current.school_id in user.school_ids
        and admin.sees(current.school_id)
    ):
        return current.school_id
    for school_id in user.school_ids:
        if admin.sees(school_id):
            return school_id
    raise NotFound(f"There is no user {user.user_id!r}.")


def _group_of(model: ReadModel, user: User, school_id: str) -> str | None:
    if user.role is not Role.STUDENT:
        return None
    groups = model.directory.groups
    mine = sorted(g for g in user.group_ids if g in groups and groups[g].school_id == school_id)
    return mine[0] if mine else None


async def append_issues(ctx: Context, commands: Sequence[IssueKey]) -> None:
    """Decide and append every issue at once (one transaction), claiming each user's slot."""
    now, model = ctx.clock(), ctx.model
    events: list[EventBase] = []
    claims = []
    for command in commands:
        current = model.current_key(command.user_id)
        events += decide(current, command, now, ctx.new_id)
        expected = current.key_id if current else None
        claims.append(SlotClaim(command.user_id, expected, command.key_id))
    await ctx.projector.store.append_claiming(key_appends(model, events), claims)


async def prepare_key(
    ctx: Context, admin: Admin, user_id: str, spec: KeySpec, *, replace: bool
) -> tuple[User, NewKey]:
    """The user in scope and a validated new key for them; nothing is stored yet."""
    await ctx.projector.catch_up()
    user = visible_user(ctx.model, admin, user_id)
    return user, new_key_command(ctx, admin, user, spec, replace=replace)


async def commit_key(ctx: Context, new: NewKey) -> KeyState:
    """Append a prepared key (revoking the one it replaces) and return it."""
    await with_retries(ctx, lambda: append_issues(ctx, [new.command]))
    return ctx.model.keys[new.command.key_id]


async def issue_key(
    ctx: Context, admin: Admin, user_id: str, spec: KeySpec, *, replace: bool
) -> tuple[str, KeyState]:
    """Issue one key; returns the plaintext (shown once) and the key."""
    _, new = await prepare_key(ctx, admin, user_id, spec, replace=replace)
    return new.plaintext, await commit_key(ctx, new)


async def change_key(
    ctx: Context, admin: Admin, key_id: uuid.UUID, commands: list[Command]
) -> KeyState:
    """Apply budget/renewal and window changes to a key in scope, as one append."""

    async def attempt() -> KeyState:
        state = visible_key(ctx.model, admin, key_id)
        now, events = ctx.clock(), []
        for command in commands:
            events += decide(state, command, now, ctx.new_id)
        _refuse_second_live_key(ctx.model, state, commands, now)
        if events:
            await ctx.projector.store.append(*key_appends(ctx.model, events))
        return state

    await with_retries(ctx, attempt)
    return ctx.model.keys[key_id]


def _refuse_second_live_key(
    model: ReadModel, state: KeyState, commands: list[Command], now: datetime
) -> None:
    for command in commands:
        if not isinstance(command, ChangeValidity):
            continue
        current = model.current_key(state.user_id)
        if current is not None and current.key_id != state.key_id:
            raise Conflict(
                f"Key {state.key_id} is not the user's latest key ({current.key_id}); "
                "only the latest key's window can change."
            )


def budget_command(
    ctx: Context, state: KeyState, admin_id: str, budget: Decimal | None, renewal: Renewal | None
) -> ChangeBudget:
    """A budget/renewal change, keeping what was not given."""
    micro = (
        state.budget_micro_usd if budget is None else rules.budget_micro(budget, ctx.max_budget_usd)
    )
    return ChangeBudget(micro, renewal or state.renewal, admin_id)


async def revoke_key(ctx: Context, admin: Admin, key_id: uuid.UUID, reason: str) -> KeyState:
    """Revoke one key in scope, recording who and why."""
    return await change_key(ctx, admin, key_id, [RevokeKey(admin.admin_id, reason)])


async def key_history(ctx: Context, admin: Admin, key_id: uuid.UUID) -> list[StoredEvent]:
    """The key's events in order: its audit log."""
    await ctx.projector.catch_up()
    visible_key(ctx.model, admin, key_id)
    return await ctx.projector.store.read_stream(f"key:{key_id}")
