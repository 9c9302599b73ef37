"""``aischool keys import-oneroster``: the import use case from a terminal, with progress."""

from __future__ import annotations

from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from contracts.directory import Admin
from infra.database import migrate, open_pool
from services.keys.adapters.oneroster import read_zip, to_snapshot
from services.keys.adapters.store import PostgresEventStore
from services.keys.app import SQL_DIR, make_context
from services.keys.domain.projection import ReadModel
from services.keys.settings import KeysSettings
from services.keys.usecases.imports import ImportResult, import_directory
from services.keys.usecases.projector import Projector

# The operator at the terminal holds the database credentials: every school is in scope.
OPERATOR = Admin("cli", "command line", None)


async def import_oneroster_file(
    settings: KeysSettings, path: Path, default_time_zone: str
) -> ImportResult:
    """Import the zip at ``path``; returns what it appended, revoked and skipped."""
    await migrate(settings.database_url, settings.schema_name, SQL_DIR)
    pool = await open_pool(settings.database_url, settings.schema_name, max_size=2)
    try:
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()
        ) as progress:
            loading = progress.add_task("reading the directory", total=None)
            projector = Projector(PostgresEventStore(pool), ReadModel())
            await projector.catch_up()
            zones = {s.school_id: s.time_zone for s in projector.model.directory.schools.values()}
            snapshot = to_snapshot(read_zip(path.read_bytes()), zones, default_time_zone)
            progress.update(loading, total=1, completed=1)
            task = progress.add_task("appending changes", total=None)
            ctx = make_context(settings, projector)
            result = await import_directory(
                ctx,
                OPERATOR,
                snapshot,
                lambda done, total: progress.update(task, completed=done, total=total),
            )
        return result
    finally:
        await pool.close()
