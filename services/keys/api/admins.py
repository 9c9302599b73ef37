"""Administrator routes: create (token shown once), list, revoke; all within the caller's scope."""

from __future__ import annotations

from fastapi import APIRouter

from services.keys.api.deps import NOT_FOUND, CurrentAdmin, Runtime
from services.keys.api.schemas import AdminIn, AdminOut, NewAdminOut
from services.keys.domain.projection import AdminRecord
from services.keys.domain.scope import admin_visible
from services.keys.usecases.admins import create_admin_by, revoke_admin

router = APIRouter(tags=["administrators"])
FORBIDDEN: dict[int | str, dict[str, object]] = {
    **NOT_FOUND,
    403: {"description": "A scoped administrator asked for an all-schools administrator"},
}
LAST: dict[int | str, dict[str, object]] = {
    **NOT_FOUND,
    409: {"description": "Already revoked, or the last all-schools administrator"},
}


def admin_out(record: AdminRecord) -> AdminOut:
    """An administrator as listed: no token, no hash."""
    scope = None if record.school_ids is None else sorted(record.school_ids)
    return AdminOut(
        admin_id=record.admin_id, name=record.name, school_ids=scope, created_at=record.created_at
    )


@router.post("/admins", status_code=201, response_model=NewAdminOut, responses=FORBIDDEN)
async def create_admin(body: AdminIn, admin: CurrentAdmin, rt: Runtime) -> NewAdminOut:
    """Create an administrator scoped within the caller's schools; its token is in this
    response and nowhere else, ever."""
    record, token = await create_admin_by(rt.ctx, admin, body.name, body.school_ids)
    return NewAdminOut(**admin_out(record).model_dump(), token=token)


@router.get("/admins", response_model=list[AdminOut])
async def list_admins(admin: CurrentAdmin, rt: Runtime) -> list[AdminOut]:
    """Active administrators whose scope lies within the caller's, oldest first."""
    await rt.ctx.projector.catch_up()
    records = [
        r
        for r in rt.ctx.model.admins.values()
        if not r.revoked and admin_visible(admin, r.school_ids)
    ]
    return [admin_out(r) for r in sorted(records, key=lambda r: (r.created_at, r.admin_id))]


@router.post("/admins/{admin_id}/revoke", response_model=AdminOut, responses=LAST)
async def revoke(admin_id: str, admin: CurrentAdmin, rt: Runtime) -> AdminOut:
    """Revoke an administrator (recording who did it): its token stops working at once."""
    return admin_out(await revoke_admin(rt.ctx, admin, admin_id))
