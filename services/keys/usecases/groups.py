"""Group use cases: keys for a whole group (with the PDF sheet) and confirmed group revocation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from contracts.directory import Admin, Group, User
from contracts.events import EventBase
from services.keys.domain import confirm
from services.keys.domain.keys import KeyState, NoKey, RevokeKey, decide, why_no_key
from services.keys.domain.scope import visible_group
from services.keys.errors import Conflict, KeysError
from services.keys.usecases.context import Context, key_appends, with_retries
from services.keys.usecases.documents import Renderer, document_request
from services.keys.usecases.keys import KeySpec, NewKey, append_issues, new_key_command


@dataclass(frozen=True)
class GroupIssue:
    """Keys made for a group (plaintext, shown once), who was skipped and why, and the sheet."""

    batch_id: uuid.UUID
    issued: list[tuple[User, str, KeyState]]
    skipped: list[tuple[User, str]]
    pdf: bytes


@dataclass(frozen=True)
class GroupRevocation:
    """What a group revocation would revoke, and the token that confirms exactly that."""

    keys: list[tuple[User, KeyState]]
    token: str
    expires_at: datetime


def _students(ctx: Context, group: Group) -> list[User]:
    users = ctx.model.directory.users
    members = [users[u] for u in group.members if u in users]
    return sorted(
        members, key=lambda u: (u.family_name.casefold(), u.given_name.casefold(), u.user_id)
    )


def skip_reason(ctx: Context, group: Group, user: User, now: datetime) -> str | None:
    """Why ``user`` gets no key with the group's keys (None: they get one)."""
    if group.school_id not in user.school_ids:
        return "not in the group's school"
    current = ctx.model.current_key(user.user_id)
    reason = why_no_key(
        current, active=user.active, linked=user.linked, school_id=group.school_id, now=now
    )
    if reason is NoKey.HAS_KEY and current is not None:
        return f"{reason} ({current.key_hint}, {current.status(now)})"
    return None if reason is None else str(reason)


def issue_plan(
    ctx: Context, group: Group, now: datetime
) -> tuple[list[User], list[tuple[User, str]]]:
    """The group's students who would get a key now, and those skipped with the reason."""
    eligible: list[User] = []
    skipped: list[tuple[User, str]] = []
    for user in _students(ctx, group):
        reason = skip_reason(ctx, group, user, now)
        if reason is None:
            eligible.append(user)
        else:
            skipped.append((user, reason))
    return eligible, skipped


async def issue_group_keys(
    ctx: Context,
    admin: Admin,
    group_id: str,
    spec: KeySpec,
    render: Renderer,
    *,
    model: str | None = None,
) -> GroupIssue:
    """Render the sheet first, then issue every key at once: all or nothing."""
    await ctx.projector.catch_up()
    group = visible_group(ctx.model, admin, group_id)
    now, batch_id = ctx.clock(), ctx.new_id()
    eligible, skipped = issue_plan(ctx, group, now)
    new = [
        (
            user,
            new_key_command(
                ctx,
                admin,
                user,
                spec,
                group_id=group_id,
                batch_id=batch_id,
                school_id=group.school_id,
            ),
        )
        for user in eligible
    ]
    if not new:
        raise Conflict(_nobody_message(group, skipped))
    for user, key in new:
        # Bad input (a window in the past) is refused now, not after a render thrown away.
        decide(ctx.model.current_key(user.user_id), key.command, now, ctx.new_id)
    # No half results: a sheet that cannot be rendered means no key exists at all.
    request = document_request(
        ctx, new, spec.renewal, now, school_id=group.school_id, group_name=group.name, model=model
    )
    pdf = await render(request)
    await with_retries(ctx, lambda: _append_unchanged(ctx, [n for _, n in new]))
    issued = [(u, n.plaintext, ctx.model.keys[n.command.key_id]) for u, n in new]
    return GroupIssue(batch_id, issued, skipped, pdf)


async def _append_unchanged(ctx: Context, new: list[NewKey]) -> None:
    try:
        await append_issues(ctx, [n.command for n in new])
    except KeysError as exc:
        # Someone changed the group while the sheet was rendering: the printed keys must
        # not differ from the issued ones, so nothing is issued.
        raise Conflict(
            f"The group changed while its key sheet was made ({exc}); no key was issued."
        ) from exc


def _nobody_message(group: Group, skipped: list[tuple[User, str]]) -> str:
    if not skipped:
        return f"Group {group.group_id!r} has no students; no key was issued."
    reasons = "; ".join(f"{u.name}: {why}" for u, why in skipped)
    return f"Nobody in group {group.group_id!r} can get a new key ({reasons})."


def _live_keys(ctx: Context, group: Group, now: datetime) -> list[tuple[User, KeyState]]:
    found = []
    for user in _students(ctx, group):
        current = ctx.model.current_key(user.user_id)
        if current is not None and current.holds_slot(now) and current.school_id == group.school_id:
            found.append((user, current))
    return found


async def preview_group_revocation(ctx: Context, admin: Admin, group_id: str) -> GroupRevocation:
    """What revoking the group's keys would revoke, with a token confirming exactly that."""
    await ctx.projector.catch_up()
    group = visible_group(ctx.model, admin, group_id)
    now = ctx.clock()
    keys = _live_keys(ctx, group, now)
    token, expires = confirm.make_token(ctx.secret, group_id, [k.key_id for _, k in keys], now)
    return GroupRevocation(keys, token, expires)


async def revoke_group(
    ctx: Context, admin: Admin, group_id: str, token: str, reason: str
) -> list[tuple[User, KeyState]]:
    """Revoke the group's keys if they are exactly those the token confirmed."""

    async def attempt() -> list[tuple[User, KeyState]]:
        group = visible_group(ctx.model, admin, group_id)
        now = ctx.clock()
        keys = _live_keys(ctx, group, now)
        confirm.check_token(ctx.secret, token, group_id, [k.key_id for _, k in keys], now)
        events: list[EventBase] = []
        for _, key in keys:
            events += decide(key, RevokeKey(admin.admin_id, reason), now, ctx.new_id)
        if events:
            await ctx.projector.store.append(*key_appends(ctx.model, events))
        return keys

    keys = await with_retries(ctx, attempt)
    return [(u, ctx.model.keys[k.key_id]) for u, k in keys]
