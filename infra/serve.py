"""Run one service as production would: ``aischool <service> serve``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
import uvicorn
from fastapi import FastAPI

from infra.observability import configure_logging
from infra.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)

NatsUrl = Annotated[str | None, typer.Option(help="NATS server URL (else AISCHOOL_NATS_URL)")]
DatabaseUrl = Annotated[
    str | None, typer.Option(help="PostgreSQL URL (else AISCHOOL_DATABASE_URL)")
]
Port = Annotated[int | None, typer.Option(help="HTTP port (else AISCHOOL_PORT)")]


def run(app: FastAPI, settings: ServiceSettings) -> None:
    """Serve until SIGINT/SIGTERM; the lifespan closes everything it opened."""
    configure_logging(settings.log_level)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=10,
        server_header=False,
    )


def service_cli(settings_cls: type[S], create_app: Callable[[S], FastAPI]) -> typer.Typer:
    """A ``serve`` command for a service; a service adds its own commands to the result."""
    cli = typer.Typer(no_args_is_help=True)

    @cli.command()
    def serve(
        nats_url: NatsUrl = None, database_url: DatabaseUrl = None, port: Port = None
    ) -> None:
        """Run this service against existing NATS (and PostgreSQL) servers."""
        given: dict[str, Any] = {"nats_url": nats_url, "database_url": database_url, "port": port}
        settings = settings_cls(**{k: v for k, v in given.items() if v is not None})
        run(create_app(settings), settings)

    return cli
