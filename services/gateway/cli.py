"""`aischool gateway ...` commands."""

from __future__ import annotations

from infra.serve import service_cli
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings

app = service_cli(GatewaySettings, create_app)
