"""``aischool up``: the whole system on one machine, on loopback, from one data folder."""

from __future__ import annotations

import ctypes
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from infra.embedded import EmbeddedNats, EmbeddedPostgres, free_port, port_is_free

SERVICES = {"gateway": 8100, "keys": 8101, "ledger": 8102, "documents": 8103}
NATS_PORT = 14222
POSTGRES_PORT = 15432
DATABASE = "aischool"


def _die_with_parent() -> None:
    """Children get SIGTERM if the supervisor itself is killed: nothing is left behind."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _port(preferred: int) -> int:
    return preferred if port_is_free(preferred) else free_port()


def hash_secret(data_dir: Path) -> str:
    """The server secret for key and token hashes: made once, kept in the data folder."""
    path = data_dir / "hash-secret"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


@dataclass
class Stack:
    """Everything ``up`` started, stopped in reverse order."""

    data_dir: Path
    nats_url: str | None = None
    database_url: str | None = None
    nats: EmbeddedNats | None = None
    postgres: EmbeddedPostgres | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def start_servers(self) -> None:
        if self.nats_url is None:
            self.nats = EmbeddedNats(self.data_dir / "nats", port=_port(NATS_PORT))
            self.nats_url = self.nats.start()
        if self.database_url is None:
            self.postgres = EmbeddedPostgres(self.data_dir / "postgres", port=_port(POSTGRES_PORT))
            self.postgres.start()
            self.database_url = self.postgres.create_database(DATABASE)

    def environment(self) -> dict[str, str]:
        assert self.nats_url is not None and self.database_url is not None
        env = dict(os.environ)
        env.setdefault("AISCHOOL_HASH_SECRET", hash_secret(self.data_dir))
        env.setdefault("AISCHOOL_SPOOL_DIR", str(self.data_dir / "gateway-spool"))
        env["AISCHOOL_NATS_URL"] = self.nats_url
        env["AISCHOOL_DATABASE_URL"] = self.database_url
        env["AISCHOOL_GATEWAY_BASE_URL"] = f"http://127.0.0.1:{self.ports['gateway']}/v1"
        env["AISCHOOL_LEDGER_URL"] = f"http://127.0.0.1:{self.ports['ledger']}"
        return env

    def start_services(self) -> None:
        self.ports = {name: _port(port) for name, port in SERVICES.items()}
        env = self.environment()
        logs = self.data_dir / "logs"
        logs.mkdir(exist_ok=True)
        for name, port in self.ports.items():
            with (logs / f"{name}.log").open("ab") as log:
                self.processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "infra.cli", name, "serve", "--port", str(port)],
                    env=env,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,  # noqa: PLW1509
                )

    def wait_ready(self, timeout: float = 90) -> None:
        pending = dict(self.ports)
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1) as client:
            while pending:
                for name, port in list(pending.items()):
                    process = self.processes[name]
                    if process.poll() is not None:
                        raise RuntimeError(
                            f"{name} exited with {process.returncode}: see "
                            f"{self.data_dir / 'logs' / (name + '.log')}"
                        )
                    try:
                        if client.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                            del pending[name]
                    except httpx.TransportError:
                        pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"not ready after {timeout}s: {', '.join(pending)}")
                time.sleep(0.2)

    def bootstrap_admin(self) -> str | None:
        """Create the first administrator once; its token is printed this one time."""
        result = subprocess.run(
            [sys.executable, "-m", "infra.cli", "keys", "create-admin"]
            + ["--name", "Bootstrap administrator", "--all-schools", "--if-none"],
            env=self.environment(),
            capture_output=True,
            check=True,
        )
        token = result.stdout.decode().strip()
        return token or None

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.nats is not None:
            self.nats.stop()
        if self.postgres is not None:
            self.postgres.stop()
