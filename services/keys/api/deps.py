"""What every keys route depends on: the running service and the signed-in administrator."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from contracts.directory import Admin
from infra.admin_auth import admin_dependency
from infra.lifespan import runtime_of
from services.keys.runtime import KeysRuntime


def runtime(request: Request) -> KeysRuntime:
    """The running service: use-case context, documents, settings."""
    return runtime_of(request.app, KeysRuntime)


CurrentAdmin = Annotated[
    Admin,
    Depends(
        admin_dependency(lambda r: runtime(r).ctx.model.directory, lambda r: runtime(r).ctx.secret)
    ),
]
Runtime = Annotated[KeysRuntime, Depends(runtime)]

NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"description": "Unknown or out of scope"}}
