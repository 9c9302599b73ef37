"""``GET /dead-letters``: the USAGE messages the ledger could not store, for an operator."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.ledger.adapters.store import dead_letters
from services.ledger.api.deps import CurrentAdmin, Runtime
from services.ledger.errors import LedgerError

router = APIRouter(tags=["operations"])


class Forbidden(LedgerError):
    """Only an administrator of all schools may see this."""

    status = 403
    title = "Forbidden"


class DeadLetterOut(BaseModel):
    """One message that was not ingested: where it was in USAGE, what it held, and why."""

    sequence: int
    subject: str
    payload: str
    error: str
    dead_at: datetime


@router.get("/dead-letters", response_model=list[DeadLetterOut])
async def list_dead_letters(
    admin: CurrentAdmin,
    runtime: Runtime,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[DeadLetterOut]:
    """The most recent dead letters, newest first (administrators of all schools only)."""
    if admin.school_ids is not None:
        raise Forbidden("Dead letters may hold any school's usage: ask an all-schools admin.")
    rows = await dead_letters(runtime.pool, limit)
    return [
        DeadLetterOut(
            sequence=row["sequence"],
            subject=row["subject"],
            payload=bytes(row["payload"]).decode("utf-8", errors="replace"),
            error=row["error"],
            dead_at=row["dead_at"],
        )
        for row in rows
    ]
