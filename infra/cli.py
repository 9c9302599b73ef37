"""The ``aischool`` command: ``up`` for one machine, ``<service> serve`` for production."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from infra.cluster import ClusterStack
from infra.foreground import foreground
from infra.haproxy import Balance
from infra.supervisor import Stack

app = typer.Typer(no_args_is_help=True, help="AI-School Coding")

SERVICES = ("keys", "gateway", "ledger", "documents")


def _add_services(argv: list[str]) -> None:
    """The commands of the service the command line names, or of all four (``--help``): a
    service's process loads no other service's libraries (WeasyPrint, psycopg, FastStream),
    which cost a gateway 53 MiB of its memory."""
    named = [name for name in SERVICES if argv[1:2] == [name]]
    for name in named or SERVICES:
        app.add_typer(importlib.import_module(f"services.{name}.cli").app, name=name)


def _check_public_url(value: str | None) -> str | None:
    """An absolute http(s) URL without spaces, given without a trailing slash."""
    if value is None:
        return None
    parsed = urlsplit(value)
    if (
        parsed.scheme not in ("http", "https")
        or not parsed.netloc
        or any(c.isspace() for c in value)
    ):
        raise typer.BadParameter(
            f"{value!r} is not an http(s) URL; give the endpoint as students reach it, "
            "e.g. https://coding.school.example/v1"
        )
    return value.rstrip("/")


@app.command()
def up(
    data_dir: Annotated[
        Path,
        typer.Option(envvar="AISCHOOL_DATA_DIR", help="Where NATS, PostgreSQL and logs keep data"),
    ] = Path("var"),
    nats_url: Annotated[
        str | None,
        typer.Option(envvar="AISCHOOL_NATS_URL", help="Use this NATS instead of an embedded one"),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            envvar="AISCHOOL_DATABASE_URL", help="Use this PostgreSQL instead of an embedded one"
        ),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            envvar=["AISCHOOL_PUBLIC_URL", "AISCHOOL_GATEWAY_BASE_URL"],
            callback=_check_public_url,
            help="The Coding endpoint as students' machines reach it, printed on key sheets "
            "and letters (default: the loopback address, reachable from this machine only)",
        ),
    ] = None,
) -> None:
    """Start NATS, PostgreSQL and the four services on loopback; Ctrl-C stops them all."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(data_dir, nats_url=nats_url, database_url=database_url, public_url=public_url)
    with foreground(stack.stop):
        typer.echo("starting NATS and PostgreSQL ...")
        stack.start_servers()
        typer.echo("starting services ...")
        stack.start_services()
        stack.wait_ready()
        token = stack.bootstrap_admin()
        _print_urls(stack, token)
        while True:
            stack.supervise(lambda line: typer.echo(f"up: {line}", err=True))
            time.sleep(0.5)


cluster = typer.Typer(no_args_is_help=True, help="Several replicas of everything, on loopback")
app.add_typer(cluster, name="cluster")


@cluster.command("up")
def cluster_up(
    data_dir: Annotated[
        Path, typer.Option(help="Where the NATS nodes, PostgreSQL and logs keep data")
    ] = Path("var/cluster"),
    balance: Annotated[
        Balance,
        typer.Option(help="round-robin over the gateways, or key-hash: one gateway per key"),
    ] = Balance.ROUND_ROBIN,
    public_url: Annotated[
        str | None,
        typer.Option(
            envvar="AISCHOOL_PUBLIC_URL",
            callback=_check_public_url,
            help="The Coding endpoint as students' machines reach it (default: HAProxy's)",
        ),
    ] = None,
) -> None:
    """Start 3 NATS nodes, 3 gateways behind HAProxy, 2 keys, ledger, documents, PostgreSQL."""
    from infra.cluster_cli import run

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    run(ClusterStack(data_dir, public_url=public_url, balance=balance))


def _print_urls(stack: Stack, token: str | None) -> None:
    ports = stack.ports
    typer.echo("")
    typer.echo("AI-School Coding is ready:")
    typer.echo(f"  Coding page: http://127.0.0.1:{ports['keys']}/  (sign in with an admin token)")
    typer.echo(f"  Coding endpoint (OpenAI-compatible)  http://127.0.0.1:{ports['gateway']}/v1")
    typer.echo(f"  Keys admin API (docs at /docs)       http://127.0.0.1:{ports['keys']}")
    typer.echo(f"  Ledger reports API                   http://127.0.0.1:{ports['ledger']}")
    typer.echo(f"  Documents service (health)           http://127.0.0.1:{ports['documents']}")
    if stack.public_url:
        typer.echo(f"  Endpoint printed on key sheets       {stack.public_url}")
    typer.echo(f"  NATS {stack.nats_url}")
    typer.echo(f"  data in {stack.data_dir}")
    if token:
        typer.echo("")
        typer.echo("Bootstrap administrator token (shown this once, keep it safe):")
        typer.echo(f"  {token}")
    typer.echo("")
    typer.echo("Press Ctrl-C to stop.")
    sys.stdout.flush()


def main() -> None:
    _add_services(sys.argv)
    app()


if __name__ == "__main__":
    main()
