"""What ``GET /v1/key`` tells a key's holder about the key: budget, spend, window. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from contracts.money import usd_text
from services.gateway.domain.budget import Budgets, renews_at
from services.gateway.domain.projection import KeyRecord


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def key_info(
    key: KeyRecord, budgets: Budgets, models: Iterable[str], zone: ZoneInfo
) -> dict[str, Any]:
    """The key's budget, used this period, remaining, renews at, validity and models.

    ``remaining`` is the budget less settled spend; what this key's requests still in
    progress hold is shown apart (``in_flight``), as it may come back. Amounts are exact:
    micro-USD integers and decimal-dollar strings, never floats."""
    account = budgets.account(key.key_id)
    used = account.spent_micro
    remaining = max(0, key.budget_micro_usd - used)
    amounts = {
        "budget": key.budget_micro_usd,
        "used": used,
        "remaining": remaining,
        "in_flight": account.reserved_micro,
    }
    return {
        "object": "key",
        "key_id": str(key.key_id),
        "role": key.role.value,
        **{f"{name}_usd": usd_text(micro) for name, micro in amounts.items()},
        **{f"{name}_micro_usd": micro for name, micro in amounts.items()},
        "renewal": key.renewal.value,
        "period_start": _iso(key.period_start),
        "renews_at": _iso(renews_at(key, zone)),
        "valid_from": _iso(key.valid_from),
        "valid_until": _iso(key.valid_until),
        "time_zone": zone.key,
        "allowed_models": sorted(name for name in models if key.may_use(name)),
    }
