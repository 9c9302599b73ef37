"""Keep the keys read model at the event store's head on every NOTIFY of another writer
(another replica, the CLI), polling each second besides."""

from __future__ import annotations

import psycopg

from services.keys.adapters.store import NOTIFY_CHANNEL
from services.keys.usecases.projector import Projector


async def follow(projector: Projector, database_url: str) -> None:
    """Catch up whenever another writer (another replica, the CLI) commits; poll each 1 s.

    A PostgreSQL error ends it: run it under ``infra.supervise``, which logs, turns
    ``caught_up`` (readiness) off and runs it again."""
    if projector.stopping:
        return
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as listener:
        await listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        while not projector.stopping:
            await projector.catch_up()
            async for _ in listener.notifies(timeout=1.0, stop_after=1):
                pass
