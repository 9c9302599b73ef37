"""Keys service settings (``AISCHOOL_*`` environment variables)."""

from __future__ import annotations

from decimal import Decimal

from infra.settings import ServiceSettings


class KeysSettings(ServiceSettings):
    """Where the keys service listens and what it may hand out."""

    port: int = 8101
    database_url: str
    schema_name: str = "keys"
    max_budget_usd: Decimal = Decimal("1000")
    gateway_base_url: str = "http://127.0.0.1:8100/v1"
    render_timeout_seconds: float = 60.0
    # OneRoster has no time zones: schools new to the directory get this one.
    default_time_zone: str = "UTC"
    renewal_interval_seconds: float = 30.0
