"""Key routes: create for a user (plaintext once), read, edit, revoke, history."""

from __future__ import annotations

import base64
import json
import uuid

from fastapi import APIRouter

from services.keys.api.deps import NOT_FOUND, CurrentAdmin, Runtime
from services.keys.api.schemas import (
    HistoryEntry,
    KeyChange,
    KeyCreate,
    KeyCreated,
    KeyOut,
    RevokeIn,
)
from services.keys.api.views import key_out
from services.keys.domain.keys import KeyState
from services.keys.domain.scope import visible_key
from services.keys.errors import InvalidInput
from services.keys.runtime import KeysRuntime
from services.keys.usecases import keys as key_cases
from services.keys.usecases.keys import KeyEdit, KeySpec
from services.keys.usecases.letters import issue_key_with_letter

router = APIRouter(tags=["keys"])
CONFLICT: dict[int | str, dict[str, object]] = {
    **NOT_FOUND,
    409: {"description": "Unlinked user, or an active key without replace"},
}
LETTER_FAILED: dict[int | str, dict[str, object]] = {
    502: {"description": "With letter: the documents service failed; no key issued"},
    503: {"description": "With letter: the documents service is down or slow; no key issued"},
}


@router.post(
    "/users/{user_id}/keys",
    status_code=201,
    response_model=KeyCreated,
    responses={**CONFLICT, **LETTER_FAILED},
)
async def create_key(user_id: str, body: KeyCreate, admin: CurrentAdmin, rt: Runtime) -> KeyCreated:
    """Issue a key (with letter: true, also its PDF letter, rendered first; no letter, no key).
    The plaintext and the letter are in this response and nowhere else, ever."""
    spec = KeySpec(body.budget_usd, body.renewal, body.valid_from, body.valid_until)
    if not body.letter:
        if body.model is not None:
            raise InvalidInput("model is printed on the letter only; send it with letter: true.")
        plaintext, key = await key_cases.issue_key(
            rt.ctx, admin, user_id, spec, replace=body.replace
        )
        return _created(rt, plaintext, key, None)
    made = await issue_key_with_letter(
        rt.ctx, admin, user_id, spec, rt.documents.letter, replace=body.replace, model=body.model
    )
    return _created(rt, made.plaintext, made.key, made.pdf)


def _created(rt: KeysRuntime, plaintext: str, key: KeyState, pdf: bytes | None) -> KeyCreated:
    view = key_out(rt.ctx.model, key, rt.ctx.clock())
    letter = None if pdf is None else base64.b64encode(pdf).decode("ascii")
    return KeyCreated(**view.model_dump(), key=plaintext, letter_pdf_base64=letter)


@router.get("/keys/{key_id}", response_model=KeyOut, responses=NOT_FOUND)
async def get_key(key_id: uuid.UUID, admin: CurrentAdmin, rt: Runtime) -> KeyOut:
    """A key's status, budget, spend this period, renewal and window (never its secret)."""
    await rt.ctx.projector.catch_up()
    return key_out(rt.ctx.model, visible_key(rt.ctx.model, admin, key_id), rt.ctx.clock())


@router.patch("/keys/{key_id}", response_model=KeyOut, responses=CONFLICT)
async def change_key(
    key_id: uuid.UUID, body: KeyChange, admin: CurrentAdmin, rt: Runtime
) -> KeyOut:
    """Change budget, renewal and/or window; fields not sent stay as they are."""
    edit = KeyEdit(
        frozenset(body.model_fields_set),
        body.budget_usd,
        body.renewal,
        body.valid_from,
        body.valid_until,
    )
    key = await key_cases.edit_key(rt.ctx, admin, key_id, edit)
    return key_out(rt.ctx.model, key, rt.ctx.clock())


@router.post("/keys/{key_id}/revoke", response_model=KeyOut, responses=CONFLICT)
async def revoke_key(key_id: uuid.UUID, body: RevokeIn, admin: CurrentAdmin, rt: Runtime) -> KeyOut:
    """Revoke a key, recording who and why."""
    await rt.ctx.projector.catch_up()
    key = await key_cases.revoke_key(rt.ctx, admin, key_id, body.reason)
    return key_out(rt.ctx.model, key, rt.ctx.clock())


@router.get("/keys/{key_id}/history", response_model=list[HistoryEntry], responses=NOT_FOUND)
async def key_history(key_id: uuid.UUID, admin: CurrentAdmin, rt: Runtime) -> list[HistoryEntry]:
    """The key's events in order (who did what, when): the audit log."""
    stored = await key_cases.key_history(rt.ctx, admin, key_id)
    return [
        HistoryEntry(
            position=s.position,
            version=s.version,
            type=s.event.type,
            occurred_at=s.event.occurred_at,
            data=_without_secrets(json.loads(s.payload)),
        )
        for s in stored
    ]


# The hash of a key's secret is for the gateway's lookup only: an administrator has no use
# for it, and every copy of it is one more place to guard.
_HIDDEN = frozenset({"key_hash"})


def _without_secrets(data: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in data.items() if k not in _HIDDEN}
