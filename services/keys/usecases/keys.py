"""Use cases for one key: load (read model) -> decide (domain) -> append (event store)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from contracts.apikeys import generate_key, hash_secret, key_hint
from contracts.directory import Admin, User
from contracts.events import EventBase, Renewal, Role
from services.keys.domain import rules
from services.keys.domain.keys import (
    ChangeBudget,
    ChangeValidity,
    Command,
    IssueKey,
    KeyState,
    RevokeKey,
    decide,
)
from services.keys.domain.projection import ReadModel
from services.keys.domain.scope import visible_key, visible_user
from services.keys.errors import NotFound
from services.keys.usecases.context import Context, key_appends, school_time_zone, with_retries
from services.keys.usecases.ports import SlotClaim, StoredEvent


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
    """Make a key (plaintext + command) for ``user`` in ``school_id`` (default: the first of
    the user's schools in scope); ``decide`` judges the command when it is appended."""
    school_id = school_id or key_school(admin, user, ctx.model.current_key(user.user_id))
    zone = school_time_zone(ctx.model, school_id)
    valid_from = rules.aware(spec.valid_from, zone)
    valid_until = rules.aware(spec.valid_until, zone)
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


@dataclass(frozen=True)
class KeyEdit:
    """What an administrator asked to change of a key; a field not in ``given`` stays."""

    given: frozenset[str]
    budget_usd: Decimal | None = None
    renewal: Renewal | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None


def edit_commands(ctx: Context, state: KeyState, admin_id: str, edit: KeyEdit) -> list[Command]:
    """The commands of an edit: budget/renewal, window (times without offset: school time)."""
    commands: list[Command] = []
    if edit.given & {"budget_usd", "renewal"}:
        commands.append(budget_command(ctx, state, admin_id, edit.budget_usd, edit.renewal))
    if edit.given & {"valid_from", "valid_until"}:
        zone = school_time_zone(ctx.model, state.school_id)
        given = edit.given
        start = rules.aware(edit.valid_from, zone) if "valid_from" in given else state.valid_from
        end = rules.aware(edit.valid_until, zone) if "valid_until" in given else state.valid_until
        commands.append(ChangeValidity(start, end, admin_id))
    return commands


async def edit_key(ctx: Context, admin: Admin, key_id: uuid.UUID, edit: KeyEdit) -> KeyState:
    """Change budget, renewal and/or window of a key in scope, as one append."""
    await ctx.projector.catch_up()
    state = visible_key(ctx.model, admin, key_id)
    return await change_key(ctx, admin, key_id, edit_commands(ctx, state, admin.admin_id, edit))


async def change_key(
    ctx: Context, admin: Admin, key_id: uuid.UUID, commands: list[Command]
) -> KeyState:
    """Apply commands to a key in scope, as one append."""

    async def attempt() -> KeyState:
        state = visible_key(ctx.model, admin, key_id)
        now, events = ctx.clock(), []
        for command in commands:
            events += decide(state, _as_of(ctx.model, state, command), now, ctx.new_id)
        if events:
            await ctx.projector.store.append(*key_appends(ctx.model, events))
        return state

    await with_retries(ctx, attempt)
    return ctx.model.keys[key_id]


def _as_of(model: ReadModel, state: KeyState, command: Command) -> Command:
    # A window change is judged against the user's latest key as the model knows it now
    # (re-read on every retry), not as it was when the request arrived.
    if not isinstance(command, ChangeValidity):
        return command
    latest = model.current_key(state.user_id)
    return replace(command, latest_key_id=latest.key_id if latest else None)


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
