"""The Coding page's writes and confirmations, as JSON for its script; CSRF on every write.

A new key's plaintext is in the one answer that created it (``Cache-Control: no-store``) and
nowhere else; group keys come back only inside their PDF sheet.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from contracts.events import Renewal
from services.keys.api.schemas import Usd
from services.keys.domain.scope import visible_group, visible_key, visible_user
from services.keys.usecases import keys as key_cases
from services.keys.usecases.groups import (
    issue_group_keys,
    issue_plan,
    preview_group_revocation,
    revoke_group,
)
from services.keys.usecases.keys import KeySpec
from services.keys.web.guard import PREFIX, SignedIn, Visit, Writing

router = APIRouter(prefix=f"{PREFIX}/api", include_in_schema=False)


class KeyForm(BaseModel):
    """What the key dialog sends; empty times mean no start or end."""

    model_config = ConfigDict(extra="forbid")

    budget_usd: Usd
    renewal: Renewal = Renewal.NONE
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    replace: bool = False

    def spec(self) -> KeySpec:
        return KeySpec(self.budget_usd, self.renewal, self.valid_from, self.valid_until)


class Confirmed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirmation_token: str = Field(min_length=1, max_length=200)


def _names(names: list[str]) -> str:
    return ", ".join(names) if names else "—"


@router.post("/users/{user_id}/keys")
async def create_key(user_id: str, form: KeyForm, visit: Writing) -> dict[str, str]:
    """Issue (or replace) a user's key; the plaintext is in this answer only."""
    plaintext, key = await key_cases.issue_key(
        visit.api.ctx, visit.admin, user_id, form.spec(), replace=form.replace
    )
    user = visible_user(visit.api.ctx.model, visit.admin, user_id)
    return {"key": plaintext, "key_hint": key.key_hint, "name": user.name}


@router.get("/keys/{key_id}/revocation")
async def preview_revoke_key(key_id: uuid.UUID, visit: SignedIn) -> dict[str, str | int]:
    """What revoking this key revokes: one key, whose."""
    ctx = visit.api.ctx
    await ctx.projector.catch_up()
    key = visible_key(ctx.model, visit.admin, key_id)
    user = ctx.model.directory.users.get(key.user_id)
    name = user.name if user else key.user_id
    return {"count": 1, "message": visit.t("revoke_one", name=name, hint=key.key_hint)}


@router.post("/keys/{key_id}/revoke")
async def revoke_key(key_id: uuid.UUID, visit: Writing) -> dict[str, str | int]:
    """Revoke one key."""
    await visit.api.ctx.projector.catch_up()
    await key_cases.revoke_key(visit.api.ctx, visit.admin, key_id, visit.t("revoke_reason"))
    return {"revoked": 1, "message": visit.t("revoked_n", count=1)}


def _skip_text(visit: Visit, reason: str) -> str:
    return visit.t("sk_no_account" if reason == "no linked account" else "sk_has_key")


@router.get("/groups/{group_id}/plan")
async def group_plan(group_id: str, visit: SignedIn) -> dict[str, object]:
    """How many keys creating keys for the group makes, for whom, and who is skipped why."""
    ctx = visit.api.ctx
    await ctx.projector.catch_up()
    group = visible_group(ctx.model, visit.admin, group_id)
    eligible, skipped = issue_plan(ctx, group, ctx.clock())
    names = [u.name for u in eligible]
    skips = [f"{u.name} ({_skip_text(visit, why)})" for u, why in skipped]
    message = visit.t("plan", count=len(names), names=_names(names)) if names else ""
    return {
        "count": len(names),
        "names": names,
        "skipped": skips,
        "message": message or visit.t("plan_none"),
        "skipped_message": visit.t("skipped", names=_names(skips)) if skips else "",
    }


@router.post("/groups/{group_id}/keys")
async def create_group_keys(group_id: str, form: KeyForm, visit: Writing) -> dict[str, object]:
    """Keys for the group, delivered only inside the PDF key sheet."""
    made = await issue_group_keys(
        visit.api.ctx, visit.admin, group_id, form.spec(), visit.api.documents.sheet
    )
    return {
        "count": len(made.issued),
        "message": visit.t("made", count=len(made.issued)),
        "filename": f"keys-{group_id}.pdf",
        "sheet_pdf_base64": base64.b64encode(made.pdf).decode("ascii"),
    }


@router.get("/groups/{group_id}/revocation")
async def preview_group_revoke(group_id: str, visit: SignedIn) -> dict[str, object]:
    """How many of the group's keys a revocation revokes, and the token confirming exactly that."""
    preview = await preview_group_revocation(visit.api.ctx, visit.admin, group_id)
    names = [u.name for u, _ in preview.keys]
    return {
        "count": len(names),
        "message": visit.t("revoke_count", count=len(names), names=_names(names))
        if names
        else visit.t("revoke_none"),
        "confirmation_token": preview.token,
    }


@router.post("/groups/{group_id}/revocation")
async def confirm_group_revoke(group_id: str, body: Confirmed, visit: Writing) -> dict[str, object]:
    """Revoke the group's keys if they are still those the confirmation showed."""
    keys = await revoke_group(
        visit.api.ctx, visit.admin, group_id, body.confirmation_token, visit.t("revoke_reason")
    )
    return {"revoked": len(keys), "message": visit.t("revoked_n", count=len(keys))}
