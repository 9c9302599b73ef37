"""Administrators: created with a bearer token that is shown once and stored as an HMAC."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from datetime import datetime

from contracts.apikeys import generate_admin_token, hash_secret
from contracts.directory import Admin
from contracts.events import AdminCreated, AdminRevoked
from services.keys.domain.projection import AdminRecord
from services.keys.domain.scope import check_revocable, new_admin_scope, visible_admin
from services.keys.errors import Forbidden
from services.keys.usecases.context import Context, with_retries
from services.keys.usecases.ports import EventStore, StreamAppend


def admin_created(
    name: str,
    school_ids: Collection[str] | None,
    server_secret: bytes,
    *,
    now: datetime,
    new_id: Callable[[], uuid.UUID],
) -> tuple[AdminCreated, str]:
    """The ``AdminCreated`` event and the plaintext token it holds only the HMAC of."""
    token = generate_admin_token()
    event = AdminCreated(
        event_id=new_id(),
        occurred_at=now,
        admin_id=str(new_id()),
        name=name,
        token_hash=hash_secret(token, server_secret),
        school_ids=None if school_ids is None else tuple(sorted(school_ids)),
    )
    return event, token


async def create_admin(
    store: EventStore,
    name: str,
    school_ids: Sequence[str] | None,
    server_secret: bytes,
    *,
    now: datetime,
    new_id: Callable[[], uuid.UUID],
) -> str:
    """Record ``AdminCreated`` and return the plaintext token (the only time it exists)."""
    event, token = admin_created(name, school_ids, server_secret, now=now, new_id=new_id)
    await store.append(StreamAppend(f"admin:{event.admin_id}", 0, [event]))
    return token


def _caller_still_active(ctx: Context, caller: Admin) -> list[StreamAppend]:
    # An empty append checks the caller's stream version in the same transaction: a caller
    # revoked meanwhile (by another replica) makes the append fail instead of acting.
    record = ctx.model.admins.get(caller.admin_id)
    if record is None:  # the command line acts as an operator, not as a recorded administrator
        return []
    if record.revoked:
        raise Forbidden("Your administrator token was revoked meanwhile; nothing was changed.")
    stream = f"admin:{caller.admin_id}"
    return [StreamAppend(stream, ctx.model.version(stream), [])]


async def create_admin_by(
    ctx: Context, caller: Admin, name: str, school_ids: Sequence[str] | None
) -> tuple[AdminRecord, str]:
    """Create an administrator within the caller's scope; return it and its token, once."""

    async def attempt() -> tuple[AdminRecord, str]:
        clean, scope = new_admin_scope(ctx.model, caller, name, school_ids)
        event, token = admin_created(clean, scope, ctx.secret, now=ctx.clock(), new_id=ctx.new_id)
        new = StreamAppend(f"admin:{event.admin_id}", 0, [event])
        await ctx.projector.store.append(*_caller_still_active(ctx, caller), new)
        return AdminRecord(event.admin_id, clean, scope, event.occurred_at), token

    return await with_retries(ctx, attempt)


async def revoke_admin(ctx: Context, caller: Admin, admin_id: str) -> AdminRecord:
    """Append ``AdminRevoked``; its token stops working here at once, elsewhere via KEYS."""

    async def attempt() -> AdminRecord:
        target = visible_admin(ctx.model, caller, admin_id)
        others = check_revocable(ctx.model, target)
        checks = {a.stream_id: a for a in _caller_still_active(ctx, caller)}
        if target.school_ids is None:
            # Two all-schools administrators revoking each other at once must not both win:
            # the others' streams are checked at their versions in the same transaction.
            for other in others:
                stream = f"admin:{other.admin_id}"
                checks[stream] = StreamAppend(stream, ctx.model.version(stream), [])
        stream = f"admin:{admin_id}"
        event = AdminRevoked(
            event_id=ctx.new_id(),
            occurred_at=ctx.clock(),
            admin_id=admin_id,
            revoked_by=caller.admin_id,
        )
        checks[stream] = StreamAppend(stream, ctx.model.version(stream), [event])
        await ctx.projector.store.append(*checks.values())
        return target

    return await with_retries(ctx, attempt)
