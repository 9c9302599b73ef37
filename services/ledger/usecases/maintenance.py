"""Upkeep: create next months' partitions ahead, drop those past retention, seal months."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date

import psycopg
import structlog

from infra.database import Pool
from services.ledger.adapters.store import drop_partitions_before, ensure_partitions
from services.ledger.domain.rows import months_to_create, oldest_kept_month
from services.ledger.usecases.sealing import seal_months

log = structlog.get_logger(__name__)


async def maintain(pool: Pool, today: date, ahead: int, retention_months: int) -> list[str]:
    """Create the partitions due, drop expired ones and seal the months that are over;
    return the dropped names."""
    await ensure_partitions(pool, months_to_create(today, ahead, retention_months))
    sealed = await seal_months(pool, today)
    if sealed:
        log.info("ledger_months_sealed", months=[m.isoformat() for m in sealed])
    oldest = oldest_kept_month(today, retention_months)
    dropped = [] if oldest is None else await drop_partitions_before(pool, oldest)
    if dropped:
        log.info("ledger_partitions_dropped", partitions=dropped)
    return dropped


async def maintain_forever(
    pool: Pool, today: Callable[[], date], ahead: int, retention_months: int, every: float
) -> None:
    """Run ``maintain`` now and then every ``every`` seconds, surviving database outages."""
    while True:
        try:
            await maintain(pool, today(), ahead, retention_months)
        except psycopg.Error as exc:
            log.warning("ledger_maintenance_failed", error=str(exc))
        await asyncio.sleep(every)
