"""`aischool keys ...` commands."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from infra.database import migrate, open_pool
from infra.serve import DatabaseUrl, service_cli
from services.keys.adapters.store import PostgresEventStore
from services.keys.app import SQL_DIR, create_app, make_context
from services.keys.domain.projection import ReadModel
from services.keys.errors import KeysError
from services.keys.import_cli import OPERATOR, import_oneroster_file
from services.keys.settings import KeysSettings
from services.keys.usecases.admins import create_admin, revoke_admin
from services.keys.usecases.projector import Projector

app = service_cli(KeysSettings, create_app)


@app.command("create-admin")
def create_admin_command(
    name: Annotated[str, typer.Option(help="Who this administrator is")],
    school: Annotated[list[str] | None, typer.Option(help="A school in scope (repeat)")] = None,
    all_schools: Annotated[bool, typer.Option(help="Scope: every school")] = False,
    if_none: Annotated[bool, typer.Option(help="Only when no administrator exists yet")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an administrator and print its bearer token, once."""
    if not all_schools and not school:
        raise typer.BadParameter("give --school (one or more) or --all-schools")
    overrides: dict[str, Any] = {"database_url": database_url} if database_url else {}
    settings = KeysSettings(**overrides)
    token = asyncio.run(_create_admin(settings, name, None if all_schools else school, if_none))
    if token is not None:
        typer.echo(token)


async def _create_admin(
    settings: KeysSettings, name: str, schools: list[str] | None, if_none: bool
) -> str | None:
    await migrate(settings.database_url, settings.schema_name, SQL_DIR)
    pool = await open_pool(settings.database_url, settings.schema_name, max_size=2)
    try:
        store = PostgresEventStore(pool)
        if if_none and await store.has_event_of_type("AdminCreated"):
            return None
        secret = settings.hash_secret.get_secret_value().encode()
        return await create_admin(
            store, name, schools, secret, now=datetime.now(UTC), new_id=uuid.uuid4
        )
    finally:
        await pool.close()


@app.command("revoke-admin")
def revoke_admin_command(
    admin_id: Annotated[str, typer.Argument(help="The administrator's id (GET /admins)")],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke an administrator: its token stops working (a running service sees it in ~1 s)."""
    overrides: dict[str, Any] = {"database_url": database_url} if database_url else {}
    settings = KeysSettings(**overrides)
    try:
        name = asyncio.run(_revoke_admin(settings, admin_id))
    except KeysError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"revoked administrator {admin_id} ({name})")


async def _revoke_admin(settings: KeysSettings, admin_id: str) -> str:
    await migrate(settings.database_url, settings.schema_name, SQL_DIR)
    pool = await open_pool(settings.database_url, settings.schema_name, max_size=2)
    try:
        projector = Projector(PostgresEventStore(pool), ReadModel())
        revoked = await revoke_admin(make_context(settings, projector), OPERATOR, admin_id)
        return revoked.name
    finally:
        await pool.close()


@app.command("import-oneroster")
def import_oneroster_command(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="OneRoster 1.1 CSV zip")
    ],
    default_time_zone: Annotated[
        str | None, typer.Option(help="Time zone of schools new to the directory")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Import a OneRoster 1.1 CSV zip into the directory (re-importing changes nothing)."""
    overrides: dict[str, Any] = {"database_url": database_url} if database_url else {}
    settings = KeysSettings(**overrides)
    try:
        result = asyncio.run(
            import_oneroster_file(settings, file, default_time_zone or settings.default_time_zone)
        )
    except KeysError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    counts = result.counts
    summary = ", ".join(f"{n} {t}" for t, n in sorted(counts.items())) or "nothing changed"
    typer.echo(f"imported {file.name}: {summary}")
    for gone in result.revoked:
        typer.echo(f"revoked {gone.key.key_hint} of {gone.name} ({gone.user_id}): {gone.reason}")
    for row in result.skipped:
        typer.echo(f"skipped {row.file} line {row.line} ({row.row_id or 'no id'}): {row.reason}")
