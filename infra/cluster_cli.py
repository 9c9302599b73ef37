"""Run ``aischool cluster up`` in the foreground: start, print the URLs, watch, stop."""

from __future__ import annotations

import sys
import time

import typer

from infra.cluster import REPLICAS, ClusterStack, replica_names
from infra.foreground import foreground
from infra.haproxy import Balance


def run(stack: ClusterStack) -> None:
    """Start everything, print the URLs once all is ready, stop it all on Ctrl-C/SIGTERM."""
    with foreground(stack.stop):
        typer.echo("starting a 3-node NATS cluster and PostgreSQL ...")
        stack.start_servers()
        typer.echo("starting services ...")
        stack.start_services()
        stack.wait_ready(timeout=180)
        stack.start_proxy()
        token = stack.bootstrap_admin()
        if token is not None:
            stack.wait_admin_known(token)
        _print_urls(stack, token)
        lost = _watch(stack)
        typer.echo(f"stopping: no {', '.join(lost)} left (see {stack.data_dir / 'logs'})", err=True)
        raise typer.Exit(1)


def _watch(stack: ClusterStack) -> list[str]:
    """Report each replica that exits; return once a whole role is gone."""
    reported: set[str] = set()
    while not (lost := stack.lost_roles()):
        for name, process in stack.processes.items():
            if process.poll() is not None and name not in reported:
                reported.add(name)
                typer.echo(f"{name} exited with {process.returncode}; the others keep serving")
        running = stack.cluster.running if stack.cluster else []
        for index, alive in enumerate(running, start=1):
            if not alive and f"nats-{index}" not in reported:
                reported.add(f"nats-{index}")
                typer.echo(f"nats-{index} stopped; the other nodes keep the streams")
        time.sleep(0.5)
    return lost


def _print_urls(stack: ClusterStack, token: str | None) -> None:
    front = stack.frontends
    how = "round-robin" if stack.balance is Balance.ROUND_ROBIN else "by key"
    gateways = " ".join(f"http://127.0.0.1:{stack.ports[n]}" for n in replica_names("gateway"))
    typer.echo("")
    typer.echo("AI-School Coding cluster is ready:")
    typer.echo(f"  Coding endpoint (HAProxy)      http://127.0.0.1:{front['gateway']}/v1")
    typer.echo(f"  Keys admin API (HAProxy)       http://127.0.0.1:{front['keys']}")
    typer.echo(f"  Ledger reports API             http://127.0.0.1:{front['ledger']}")
    typer.echo(f"  Documents service (health)     http://127.0.0.1:{front['documents']}")
    typer.echo(f"  Gateways ({how})      {gateways}")
    typer.echo(f"  Keys replicas: {REPLICAS['keys']} (the first serves, the next takes over)")
    if stack.public_url:
        typer.echo(f"  Endpoint printed on key sheets {stack.public_url}")
    typer.echo(f"  NATS (JetStream, 3 replicas)   {stack.nats_url}")
    typer.echo(f"  PostgreSQL                     {stack.database_url}")
    typer.echo(f"  data in {stack.data_dir}")
    if token:
        typer.echo("")
        typer.echo("Bootstrap administrator token (shown this once, keep it safe):")
        typer.echo(f"  {token}")
    typer.echo("")
    typer.echo("Press Ctrl-C to stop.")
    sys.stdout.flush()
