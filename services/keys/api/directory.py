"""Directory routes: bulk JSON import, OneRoster zip import, schools, groups, staff, students."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from contracts.events import Role
from infra.body_limit import MIB
from services.keys.adapters.oneroster import read_zip, to_snapshot
from services.keys.api.deps import NOT_FOUND, CurrentAdmin, Runtime
from services.keys.api.schemas import (
    DirectoryIn,
    GroupOut,
    ImportOut,
    PersonRow,
    RevokedOut,
    SchoolOut,
    SkippedRowOut,
)
from services.keys.api.views import groups_out, schools_out, staff_rows, student_rows
from services.keys.domain.directory_diff import GroupRecord, SchoolRecord, Snapshot, UserRecord
from services.keys.domain.scope import visible_group, visible_school
from services.keys.errors import InvalidInput
from services.keys.usecases.imports import ImportResult, import_directory

router = APIRouter(tags=["directory"])
MAX_ZIP_BYTES = 50 * MIB  # a OneRoster export of a large school board
MAX_JSON_BYTES = 1 * MIB  # every JSON body; a larger directory goes as several imports
SchoolFilter = Annotated[str | None, Query(max_length=200, description="Only this school")]


def snapshot_of(body: DirectoryIn) -> Snapshot:
    """The request body as import records."""
    return Snapshot(
        schools=[SchoolRecord(s.school_id, s.name, s.time_zone, s.language) for s in body.schools],
        groups=[
            GroupRecord(
                g.group_id,
                g.school_id,
                g.name,
                None if g.student_ids is None else tuple(g.student_ids),
            )
            for g in body.groups
        ],
        users=[
            UserRecord(
                u.user_id,
                Role(u.role),
                u.given_name,
                u.family_name,
                tuple(u.school_ids),
                u.email,
                u.active,
                u.account,
            )
            for u in body.users
        ],
    )


def _out(result: ImportResult) -> ImportOut:
    revoked = [
        RevokedOut(
            user_id=r.user_id,
            name=r.name,
            key_id=r.key.key_id,
            key_hint=r.key.key_hint,
            reason=r.reason,
        )
        for r in result.revoked
    ]
    skipped = [
        SkippedRowOut(file=s.file, line=s.line, row_id=s.row_id, reason=s.reason)
        for s in result.skipped
    ]
    return ImportOut(events=result.total, counts=result.counts, revoked=revoked, skipped=skipped)


@router.post("/directory", response_model=ImportOut, responses=NOT_FOUND)
async def import_json(body: DirectoryIn, admin: CurrentAdmin, rt: Runtime) -> ImportOut:
    """Import schools, users and groups; only changes produce events (re-import: none)."""
    return _out(await import_directory(rt.ctx, admin, snapshot_of(body)))


@router.post(
    "/directory/oneroster",
    response_model=ImportOut,
    responses=NOT_FOUND,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def import_oneroster(
    request: Request,
    admin: CurrentAdmin,
    rt: Runtime,
    default_time_zone: Annotated[
        str | None, Query(max_length=64, description="Time zone of schools new to the directory")
    ] = None,
) -> ImportOut:
    """Import a OneRoster 1.1 CSV zip (orgs, users, classes, enrollments) sent as the body."""
    data = await request.body()  # at most MAX_ZIP_BYTES: BodyLimit answered 413 past it
    if not data:
        raise InvalidInput("Send the OneRoster 1.1 CSV zip as the request body.")
    zones = {s.school_id: s.time_zone for s in rt.ctx.model.directory.schools.values()}
    snapshot = to_snapshot(read_zip(data), zones, default_time_zone or rt.default_time_zone)
    return _out(await import_directory(rt.ctx, admin, snapshot))


@router.get("/schools", response_model=list[SchoolOut])
async def list_schools(admin: CurrentAdmin, rt: Runtime) -> list[SchoolOut]:
    """Schools in the administrator's scope."""
    return schools_out(rt.ctx.model, admin)


@router.get("/groups", response_model=list[GroupOut], responses=NOT_FOUND)
async def list_groups(
    admin: CurrentAdmin, rt: Runtime, school_id: SchoolFilter = None
) -> list[GroupOut]:
    """Groups in scope, optionally of one school."""
    if school_id is not None:
        visible_school(rt.ctx.model, admin, school_id)
    return groups_out(rt.ctx.model, admin, school_id)


@router.get("/staff", response_model=list[PersonRow], responses=NOT_FOUND)
async def list_staff(
    admin: CurrentAdmin, rt: Runtime, school_id: SchoolFilter = None
) -> list[PersonRow]:
    """Staff in scope with linked state, key status, budget and spend this period."""
    if school_id is not None:
        visible_school(rt.ctx.model, admin, school_id)
    return staff_rows(rt.ctx.model, admin, school_id, rt.ctx.clock())


@router.get("/groups/{group_id}/students", response_model=list[PersonRow], responses=NOT_FOUND)
async def list_students(group_id: str, admin: CurrentAdmin, rt: Runtime) -> list[PersonRow]:
    """A group's students with linked state, key status, budget and spend this period."""
    group = visible_group(rt.ctx.model, admin, group_id)
    return student_rows(rt.ctx.model, admin, group, rt.ctx.clock())
