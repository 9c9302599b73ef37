"""Roster routes: students in no group, so nobody falls out of sight."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from contracts.directory import Admin, User
from contracts.events import Role
from services.keys.api.deps import NOT_FOUND, CurrentAdmin, Runtime
from services.keys.api.schemas import PersonRow
from services.keys.api.views import person_row
from services.keys.domain.projection import ReadModel
from services.keys.domain.scope import visible_school

router = APIRouter(tags=["directory"])


def _unassigned(model: ReadModel, admin: Admin, school_id: str | None) -> list[User]:
    """Students of the schools in scope (or of ``school_id``) in none of their groups."""
    groups = model.directory.groups

    def counts(school: str) -> bool:
        return admin.sees(school) and (school_id is None or school == school_id)

    found = []
    for user in model.directory.users.values():
        schools = [s for s in user.school_ids if counts(s)]
        if user.role is not Role.STUDENT or not user.active or not schools:
            continue
        if not any(g in groups and groups[g].school_id in schools for g in user.group_ids):
            found.append(user)
    return sorted(found, key=lambda u: (u.family_name.casefold(), u.given_name.casefold()))


@router.get("/students/unassigned", response_model=list[PersonRow], responses=NOT_FOUND)
async def list_unassigned(
    admin: CurrentAdmin,
    rt: Runtime,
    school_id: Annotated[str | None, Query(max_length=200, description="Only this school")] = None,
) -> list[PersonRow]:
    """Active students in scope who are in no group of their school (optionally one school)."""
    if school_id is not None:
        visible_school(rt.ctx.model, admin, school_id)
    now = rt.ctx.clock()
    return [
        person_row(rt.ctx.model, admin, u, now) for u in _unassigned(rt.ctx.model, admin, school_id)
    ]
