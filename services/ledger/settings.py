"""Ledger settings (``AISCHOOL_*`` environment variables)."""

from __future__ import annotations

from infra.settings import ServiceSettings


class LedgerSettings(ServiceSettings):
    """Where the ledger listens and keeps its tables."""

    port: int = 8102
    database_url: str
    schema_name: str = "ledger"
