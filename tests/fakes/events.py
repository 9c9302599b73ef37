"""One factory for the usage events tests and benchmarks publish themselves."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from contracts.events import RequestMetered


def request_metered(**fields: Any) -> RequestMetered:
    """A plausible ``RequestMetered``; any field may be given, the rest are defaults."""
    at = fields.pop("at", None) or datetime.now(UTC)
    request_id = fields.pop("request_id", None) or uuid.uuid4()
    defaults: dict[str, Any] = {
        "event_id": request_id,
        "occurred_at": at,
        "request_id": request_id,
        "key_id": uuid.uuid4(),
        "user_id": "u1",
        "school_id": "s1",
        "group_id": None,
        "model": "demo",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cached_tokens": 0,
        "cost_micro_usd": 1000,
        "status": 200,
        "stream": False,
        "latency_ms": 1,
        "chat_id": None,
        "gateway_id": "1",
        "at": at,
    }
    return RequestMetered(**{**defaults, **fields})
