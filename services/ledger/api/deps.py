"""What every ledger endpoint depends on: the runtime, the administrator, the scoped filters."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from contracts.directory import Admin, Directory
from infra.admin_auth import admin_dependency
from infra.lifespan import runtime_of
from services.ledger.domain import scope
from services.ledger.domain.projection import KeysView
from services.ledger.errors import InvalidParameter
from services.ledger.runtime import LedgerRuntime


def _runtime(request: Request) -> LedgerRuntime:
    return runtime_of(request.app, LedgerRuntime)


def _directory(request: Request) -> Directory:
    return _runtime(request).view.directory


def _secret(request: Request) -> bytes:
    return _runtime(request).settings.hash_secret.get_secret_value().encode()


CurrentAdmin = Annotated[Admin, Depends(admin_dependency(_directory, _secret))]
Runtime = Annotated[LedgerRuntime, Depends(_runtime)]
From = Annotated[
    date | None, Query(alias="from", description="First day (YYYY-MM-DD) in each school's time")
]
To = Annotated[date | None, Query(description="Last day, included (YYYY-MM-DD), school's time")]
Limit = Annotated[int, Query(ge=1, le=10_000)]


@dataclass(frozen=True)
class Scoped:
    """A question's filters, checked against the scope, with the zones of its schools."""

    filters: scope.Filters
    zones: dict[str, str]

    def answer(self) -> dict[str, Any]:
        """What every answer says about its days: the period and whose time it is in."""
        zones = set(self.zones.values())
        return {
            "from": self.filters.period.start,
            "to": self.filters.period.end,
            "time_zone": zones.pop() if len(zones) == 1 else None,
            "time_zones": self.zones,
        }


def scoped(
    admin: Admin,
    view: KeysView,
    start: date | None,
    end: date | None,
    asked: dict[str, Any],
) -> Scoped:
    """Check the asked filters against the scope; the period defaults to this month so far,
    in the schools' time."""
    for name, value in asked.items():
        if isinstance(value, str) and "\x00" in value:
            raise InvalidParameter(f"'{name}' contains a NUL character.", field=f"query.{name}")
    placeholder = scope.Period(date.min, date.min)
    checked = scope.filters(admin, view, scope.Filters(placeholder, None, **_filter_fields(asked)))
    zones = scope.time_zones(view, scope.schools_in_question(view, checked))
    period = scope.period(start, end, scope.today(zones, datetime.now(UTC)))
    return Scoped(replace(checked, period=period), zones)


def _filter_fields(asked: dict[str, Any]) -> dict[str, Any]:
    names = ("school_id", "group_id", "user_id", "key_id", "model")
    return {n: asked.get(n) for n in names}


def refuse_unknown_query(request: Request) -> None:
    """422 for a query parameter the endpoint does not have: a dashboard must learn that an
    option does not exist rather than get an answer that silently ignored it."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = _query_names(dependant)
    for name in request.query_params:
        if name not in known:
            raise InvalidParameter(f"Unknown query parameter '{name}'.", field=f"query.{name}")


def _query_names(dependant: Any) -> set[str]:
    names = {str(p.alias) for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names
