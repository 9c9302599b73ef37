"""Mount the keys admin API on an app: its routers and its error map."""

from __future__ import annotations

from fastapi import FastAPI

from services.keys.api import admins, directory, groups, keys, roster
from services.keys.api.problems import install_error_handlers


def install(app: FastAPI) -> None:
    """Every keys API router, and ``KeysError`` answered as problem details."""
    install_error_handlers(app)
    for module in (directory, keys, groups, admins, roster):
        app.include_router(module.router)
