"""Directory import throughput: a synthetic school of N students in groups of 25.

Prints how long the first import (every record new) and a re-import (nothing changed) take,
and the events per second. Run: .venv/bin/python -m bench.keys_import --students 2000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from contracts.directory import Admin
from contracts.events import Role
from infra.database import migrate, open_pool
from infra.embedded import EmbeddedPostgres
from services.keys.adapters.store import PostgresEventStore
from services.keys.app import SQL_DIR
from services.keys.domain.directory_diff import GroupRecord, SchoolRecord, Snapshot, UserRecord
from services.keys.domain.projection import ReadModel
from services.keys.usecases.context import Context
from services.keys.usecases.imports import import_directory
from services.keys.usecases.projector import Projector


def snapshot(students: int) -> Snapshot:
    users = [
        UserRecord(f"s{i}", Role.STUDENT, "Student", f"{i:05d}", ("school",), account=f"s{i}@x")
        for i in range(students)
    ]
    groups = [
        GroupRecord(
            f"g{g}",
            "school",
            f"Group {g}",
            tuple(f"s{i}" for i in range(g, students, max(1, students // 25))),
        )
        for g in range(max(1, students // 25))
    ]
    return Snapshot([SchoolRecord("school", "Bench School", "Europe/Amsterdam")], groups, users)


async def run(url: str, students: int) -> None:
    await migrate(url, "keys", SQL_DIR)
    pool = await open_pool(url, "keys")
    try:
        projector = Projector(PostgresEventStore(pool), ReadModel())
        ctx = Context(projector, b"bench", Decimal(1000), lambda: datetime.now(UTC), uuid.uuid4)
        admin = Admin("bench", "bench", None)
        records = snapshot(students)
        for label in ("first import", "re-import"):
            start = time.perf_counter()
            result = await import_directory(ctx, admin, records)
            took = time.perf_counter() - start
            rate = result.total / took if took else 0.0
            print(f"{label:>12}: {result.total:6d} events in {took:6.2f} s ({rate:,.0f} events/s)")
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server = EmbeddedPostgres(Path(folder) / "pg")
        server.start()
        try:
            asyncio.run(run(server.create_database("bench"), args.students))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
