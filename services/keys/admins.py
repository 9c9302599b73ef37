"""Administrators: created with a bearer token that is shown once and stored as an HMAC."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from contracts.apikeys import generate_admin_token, hash_secret
from contracts.events import AdminCreated
from services.keys.store import EventStore, StreamAppend


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
    token = generate_admin_token()
    admin_id = str(new_id())
    event = AdminCreated(
        event_id=new_id(),
        occurred_at=now,
        admin_id=admin_id,
        name=name,
        token_hash=hash_secret(token, server_secret),
        school_ids=None if school_ids is None else tuple(school_ids),
    )
    await store.append(StreamAppend(f"admin:{admin_id}", 0, [event]))
    return token
