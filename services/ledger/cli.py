"""`aischool ledger ...` commands."""

from __future__ import annotations

from infra.serve import service_cli
from services.ledger.app import create_app
from services.ledger.settings import LedgerSettings

app = service_cli(LedgerSettings, create_app)
