"""Group routes: keys for a whole group with the PDF sheet; confirmed group revocation."""

from __future__ import annotations

import base64

from fastapi import APIRouter

from services.keys.api.deps import NOT_FOUND, CurrentAdmin, Runtime
from services.keys.api.schemas import (
    GroupKeysCreate,
    GroupKeysOut,
    GroupRevoked,
    GroupRevokeIn,
    IssuedCard,
    RevocationPreview,
    Skipped,
)
from services.keys.api.views import brief
from services.keys.usecases.groups import issue_group_keys, preview_group_revocation, revoke_group
from services.keys.usecases.keys import KeySpec

router = APIRouter(tags=["groups"])


@router.post(
    "/groups/{group_id}/keys",
    status_code=201,
    response_model=GroupKeysOut,
    responses={
        **NOT_FOUND,
        409: {"description": "Nobody in the group can get a new key"},
        502: {"description": "The documents service failed: no key issued"},
        503: {"description": "The documents service is down or slow: no key issued"},
    },
)
async def create_group_keys(
    group_id: str, body: GroupKeysCreate, admin: CurrentAdmin, rt: Runtime
) -> GroupKeysOut:
    """Keys for every linked student without one, and their PDF sheet; all or nothing."""
    spec = KeySpec(body.budget_usd, body.renewal, body.valid_from, body.valid_until)
    result = await issue_group_keys(
        rt.ctx, admin, group_id, spec, rt.documents.sheet, model=body.model
    )
    return GroupKeysOut(
        group_id=group_id,
        batch_id=result.batch_id,
        issued=[
            IssuedCard(
                user_id=u.user_id, name=u.name, key_id=k.key_id, key_hint=k.key_hint, key=plain
            )
            for u, plain, k in result.issued
        ],
        skipped=[Skipped(user_id=u.user_id, name=u.name, reason=why) for u, why in result.skipped],
        sheet_pdf_base64=base64.b64encode(result.pdf).decode("ascii"),
    )


@router.get(
    "/groups/{group_id}/keys/revocation", response_model=RevocationPreview, responses=NOT_FOUND
)
async def preview_revocation(group_id: str, admin: CurrentAdmin, rt: Runtime) -> RevocationPreview:
    """What revoking the group's keys would revoke, and the token that confirms it."""
    preview = await preview_group_revocation(rt.ctx, admin, group_id)
    return RevocationPreview(
        group_id=group_id,
        count=len(preview.keys),
        names=[u.name for u, _ in preview.keys],
        keys=[brief(u, k) for u, k in preview.keys],
        confirmation_token=preview.token,
        expires_at=preview.expires_at,
    )


@router.post(
    "/groups/{group_id}/keys/revocation",
    response_model=GroupRevoked,
    responses={**NOT_FOUND, 409: {"description": "Stale or expired confirmation token"}},
)
async def confirm_revocation(
    group_id: str, body: GroupRevokeIn, admin: CurrentAdmin, rt: Runtime
) -> GroupRevoked:
    """Revoke the group's keys, if they are still exactly those the token confirmed."""
    keys = await revoke_group(rt.ctx, admin, group_id, body.confirmation_token, body.reason)
    return GroupRevoked(group_id=group_id, revoked=len(keys), keys=[brief(u, k) for u, k in keys])
