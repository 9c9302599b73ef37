"""Gateway settings (``AISCHOOL_*`` environment variables)."""

from __future__ import annotations

from pathlib import Path

from infra.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    """Where the gateway listens, which models it serves, where it spools metering."""

    port: int = 8100
    models_file: Path | None = None
    spool_dir: Path = Path("var/gateway-spool")
