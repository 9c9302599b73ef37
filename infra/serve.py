"""Run one service as production would: ``aischool <service> serve``."""

from __future__ import annotations

import socket
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
Fd = Annotated[
    int | None,
    typer.Option(help="Serve on this inherited listening socket (how `aischool up` starts us)"),
]


def run(app: FastAPI, settings: ServiceSettings, fd: int | None = None) -> None:
    """Serve until SIGINT/SIGTERM; the lifespan closes everything it opened.

    With ``fd`` the service accepts on a socket its supervisor bound and keeps: no other
    process can take the port between choosing it and listening, and connections wait in
    the socket's backlog while the service restarts."""
    configure_logging(settings.log_level)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    sockets = None if fd is None else [socket.socket(fileno=fd)]
    uvicorn.Server(config).run(sockets=sockets)


def service_cli(settings_cls: type[S], create_app: Callable[[S], FastAPI]) -> typer.Typer:
    """A ``serve`` command for a service; a service adds its own commands to the result."""
    cli = typer.Typer(no_args_is_help=True)

    @cli.command()
    def serve(
        nats_url: NatsUrl = None,
        database_url: DatabaseUrl = None,
        port: Port = None,
        fd: Fd = None,
    ) -> None:
        """Run this service against existing NATS (and PostgreSQL) servers."""
        given: dict[str, Any] = {"nats_url": nats_url, "database_url": database_url, "port": port}
        settings = settings_cls(**{k: v for k, v in given.items() if v is not None})
        run(create_app(settings), settings, fd)

    return cli
