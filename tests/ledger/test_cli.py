"""`aischool ledger reconcile` as an operator runs it."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from infra.database import migrate
from infra.messaging import connect, ensure_streams
from services.ledger.app import SQL_DIR
from services.ledger.cli import app


async def _prepare(database_url: str, nats_url: str) -> None:
    await migrate(database_url, "ledger", SQL_DIR)
    nc = await connect(nats_url, "test")
    await ensure_streams(nc.jetstream())
    await nc.close()


def test_reconcile_needs_no_hash_secret(
    database_url: str, nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(_prepare(database_url, nats_url))
    monkeypatch.delenv("AISCHOOL_HASH_SECRET", raising=False)
    options = ["--nats-url", nats_url, "--database-url", database_url, "--wait", "0"]
    result = CliRunner().invoke(app, ["reconcile", *options])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["matches"] is True
