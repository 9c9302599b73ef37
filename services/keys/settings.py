"""Keys service settings (``AISCHOOL_*`` environment variables)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from infra.settings import ServiceSettings
from services.keys.domain.rules import MODEL_NAME


class KeysSettings(ServiceSettings):
    """Where the keys service listens and what it may hand out."""

    port: int = 8101
    database_url: str
    schema_name: str = "keys"
    max_budget_usd: Decimal = Decimal("1000")
    gateway_base_url: str = "http://127.0.0.1:8100/v1"
    render_timeout_seconds: float = 60.0
    # Printed in the setup lines of every tool (Aider, OpenCode, Claude Code, Codex CLI); "demo"
    # is the gateway's built-in model, so the sheets of a fresh `aischool up` work as printed.
    default_model: str = Field("demo", pattern=MODEL_NAME)
    # OneRoster has no time zones: schools new to the directory get this one.
    default_time_zone: str = "UTC"
    renewal_interval_seconds: float = 30.0
    # The Coding page reads usage figures through the ledger's HTTP API, as the signed-in admin.
    ledger_url: str = "http://127.0.0.1:8102"
    console_session_hours: float = 8.0
    console_idle_minutes: float = 30.0
