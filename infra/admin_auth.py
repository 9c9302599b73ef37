"""Bearer-token authentication of administrators, checked locally against the directory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from contracts.directory import Admin, Directory

_bearer = HTTPBearer(auto_error=False)


def admin_dependency(
    directory: Callable[[Request], Directory], server_secret: Callable[[Request], bytes]
) -> Callable[..., Admin]:
    """A FastAPI dependency yielding the calling administrator, or a 401 problem."""

    def current_admin(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Admin:
        if credentials is None:
            raise HTTPException(
                401,
                "Send an administrator token as 'Authorization: Bearer ...'.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        admin = directory(request).authenticate(credentials.credentials, server_secret(request))
        if admin is None:
            raise HTTPException(
                401,
                "This administrator token is not valid (unknown or revoked).",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return admin

    return current_admin
