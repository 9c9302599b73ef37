"""Ledger settings (``AISCHOOL_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field

from infra.settings import ServiceSettings


class LedgerSettings(ServiceSettings):
    """Where the ledger listens and keeps its tables, and how long it keeps raw requests."""

    port: int = 8102
    database_url: str
    schema_name: str = "ledger"
    # Raw requests are kept this many months (the current one included; 0 = forever).
    # Daily rollups and chats are kept forever; reports never need the raw rows.
    retention_months: int = Field(default=25, ge=0)
    partitions_ahead: int = Field(default=3, ge=1)
    # Bigger batches fold more events into each rollup row (a group's row is updated once per
    # batch, not once per event): 5000 cost PostgreSQL 14-15 µs per event against 17-18 µs for
    # 1000 in the ingest benchmark (docs/benchmarks.md, issue 14). A quiet stream still gets
    # small batches: a fetch takes what is waiting, up to this many.
    ingest_batch_size: int = Field(default=5000, ge=1, le=10_000)
    # After a crash, what was fetched but not acked is redelivered after this long.
    ingest_ack_wait_seconds: float = Field(default=15, gt=0)
    maintenance_interval_seconds: float = Field(default=3600, gt=0)
