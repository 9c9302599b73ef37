"""The ledger's figures, read through its HTTP API as the signed-in administrator."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx

TIMEOUT = httpx.Timeout(5.0, connect=2.0)


class LedgerUnavailable(Exception):
    """The ledger could not be reached or failed: the page says usage is unavailable."""


class LedgerNotFound(Exception):
    """The ledger knows no such chat or key (or it is outside the administrator's schools)."""


class Ledger:
    """GET requests to the ledger's reporting API with an administrator's bearer token."""

    def __init__(self, base_url: str, token: str) -> None:
        self._base_url, self._token = base_url, token

    async def get(self, path: str, **params: str) -> Any:
        """The JSON answer, or LedgerUnavailable / LedgerNotFound."""
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            async with httpx.AsyncClient(base_url=self._base_url, timeout=TIMEOUT) as client:
                response = await client.get(path, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise LedgerUnavailable(type(exc).__name__) from None
        if response.status_code == 404:
            raise LedgerNotFound(_detail(response))
        if response.status_code != 200:
            raise LedgerUnavailable(_detail(response))
        return response.json()

    async def report(self, by: str, start: date, end: date, **filters: str) -> dict[str, Any]:
        """A usage report (``users``, ``keys``, ``days``, ...) over whole days."""
        found: dict[str, Any] = await self.get(
            f"/reports/{by}", **{"from": start.isoformat(), "to": end.isoformat()}, **filters
        )
        return found

    async def last_uses(self, today: date, **filters: str) -> dict[str, str | None]:
        """The last use per user over the past year, for the people lists."""
        found = await self.report("users", today - timedelta(days=365), today, **filters)
        return {row["user_id"]: row.get("last_use") for row in found["rows"]}


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return str(body["detail"])
    return f"HTTP {response.status_code}"
