"""`aischool ledger ...` commands."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer
from pydantic import SecretStr

from infra.database import open_pool
from infra.messaging import connect
from infra.serve import DatabaseUrl, NatsUrl, service_cli
from services.ledger.app import create_app
from services.ledger.domain.projection import KeysView
from services.ledger.settings import LedgerSettings
from services.ledger.usecases.reconcile import reconciliation

app = service_cli(LedgerSettings, create_app)


class ReconcileSettings(LedgerSettings):
    """Reconciliation authenticates no administrator, so it needs no hash secret."""

    hash_secret: SecretStr = SecretStr("")


@app.command()
def reconcile(
    nats_url: NatsUrl = None,
    database_url: DatabaseUrl = None,
    wait: float = typer.Option(30.0, help="Seconds to wait for the ledger to catch up"),
) -> None:
    """Compare the ledger's totals per key with the metered events in USAGE; 1 on a difference."""
    given: dict[str, Any] = {"nats_url": nats_url, "database_url": database_url}
    settings = ReconcileSettings(**{k: v for k, v in given.items() if v is not None})
    report = asyncio.run(_reconcile(settings, wait))
    typer.echo(json.dumps(report, default=str, indent=2))
    if not report["matches"]:
        raise typer.Exit(1)


async def _reconcile(settings: LedgerSettings, wait: float) -> dict[str, Any]:
    pool = await open_pool(settings.database_url, settings.schema_name, max_size=2)
    nc = await connect(settings.nats_url, f"ledger-reconcile-{settings.instance_id}")
    try:
        return await reconciliation(nc.jetstream(), pool, KeysView(), lambda _: True, wait)
    finally:
        await nc.close()
        await pool.close()
