"""``aischool up``: the whole system on one machine, on loopback, from one data folder.

``up`` is a small supervisor: a child that exits (a service, NATS or PostgreSQL) is started
again after a backoff and the console says so; Ctrl-C stops the services first (gateway,
keys, documents, ledger: each flushes to NATS), then NATS, then PostgreSQL, and kills
whatever a service left in its process group (the documents service's render workers).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from infra.embedded import EmbeddedNats, EmbeddedPostgres, free_port, port_is_free
from infra.supervise import Backoff

SERVICES = {"gateway": 8100, "keys": 8101, "ledger": 8102, "documents": 8103}
# Stopped in this order: whoever takes requests first, the last consumer of USAGE last.
STOP_ORDER = ("gateway", "keys", "documents", "ledger")
# A child that ran this long before exiting was healthy: its next restart is quick again.
STABLE_SECONDS = 60.0
NATS_PORT = 14222
POSTGRES_PORT = 15432
DATABASE = "aischool"


def _die_with_parent() -> None:
    """Children get SIGTERM if the supervisor itself is killed: nothing is left behind."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _port(preferred: int) -> int:
    return preferred if port_is_free(preferred) else free_port()


def listen(preferred: int, *, fallback: bool = True) -> socket.socket:
    """A listening socket on 127.0.0.1: the preferred port, else (with ``fallback``) a free
    one. Bound here and handed to the service, so the port is ours from the moment it is
    chosen: a second ``up`` cannot take it before the service listens, and our readiness
    checks cannot be answered by another service on this machine."""
    for port in (preferred, 0) if fallback else (preferred,):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        sock.listen(2048)
        sock.set_inheritable(True)
        return sock
    raise OSError(f"port {preferred} on 127.0.0.1 is taken")


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
    # The Coding endpoint as students' machines reach it (printed on key sheets and letters);
    # None: the loopback address, which only this machine can reach.
    public_url: str | None = None
    nats: EmbeddedNats | None = None
    postgres: EmbeddedPostgres | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    # Bound for a service not started yet; the service's process owns it once started.
    sockets: dict[str, socket.socket] = field(default_factory=dict)
    restarts: dict[str, Restart] = field(default_factory=dict)

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
        env["AISCHOOL_GATEWAY_BASE_URL"] = self.printed_url
        env["AISCHOOL_LEDGER_URL"] = self.ledger_url
        return env

    @property
    def ledger_url(self) -> str:
        """Where the Coding page reads the ledger's reports."""
        return f"http://127.0.0.1:{self.ports['ledger']}"

    @property
    def printed_url(self) -> str:
        """The endpoint key sheets and letters print: the public URL, else loopback."""
        return self.public_url or f"http://127.0.0.1:{self.ports['gateway']}/v1"

    def start_services(self) -> None:
        self.sockets = {name: listen(port) for name, port in SERVICES.items()}
        self.ports = {name: sock.getsockname()[1] for name, sock in self.sockets.items()}
        (self.data_dir / "logs").mkdir(exist_ok=True)
        for name in self.ports:
            self.start_service(name)

    def start_service(self, name: str) -> None:
        """Start (or start again) one service on its port, logging to ``logs/<name>.log``."""
        self.spawn(name, name, self.environment())

    def spawn(self, name: str, role: str, env: dict[str, str]) -> None:
        """Run ``aischool <role> serve`` as ``name`` on the listening socket bound for it."""
        # A restart binds the same port again. Only the child keeps the socket, so a dead
        # service refuses connections and HAProxy (cluster up) sends them elsewhere at once.
        sock = self.sockets.pop(name, None) or listen(self.ports[name], fallback=False)
        command = [sys.executable, "-m", "infra.cli", role, "serve"]
        with sock, (self.data_dir / "logs" / f"{name}.log").open("ab") as log:
            fd = sock.fileno()
            self.processes[name] = subprocess.Popen(
                [*command, "--port", str(self.ports[name]), "--fd", str(fd)],
                pass_fds=(fd,),
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509
            )

    def children(self) -> dict[str, tuple[Callable[[], int | None], Callable[[], None]]]:
        """Each child we run: how to see its exit code (None while it runs), how to restart it.
        Servers come first, so after a crash of everything they are back before the services."""
        found: dict[str, tuple[Callable[[], int | None], Callable[[], None]]] = {}
        for name, server in (("postgres", self.postgres), ("nats", self.nats)):
            if server is not None:
                found[name] = (_exit_code(server), _starter(server))
        for name in self.processes:
            found[name] = (self._service_exit(name), self._restarter(name))
        return found

    def _service_exit(self, name: str) -> Callable[[], int | None]:
        def code() -> int | None:
            return self.processes[name].poll()  # the current process: restarts replace it

        return code

    def _restarter(self, name: str) -> Callable[[], None]:
        def restart() -> None:
            _kill_group(self.processes[name])  # what the dead one left behind
            self.start_service(name)

        return restart

    def supervise(self, say: Callable[[str], None]) -> None:
        """One round: restart every child that exited, once its backoff has passed."""
        now = time.monotonic()
        for name, (exit_code, restart) in self.children().items():
            state = self.restarts.setdefault(name, Restart())
            code = exit_code()
            if code is None:
                continue
            if state.due is None:
                delay = state.schedule(now)
                say(f"{name} exited with {code}; restarting it in {delay:g}s")
            elif now >= state.due:
                state.due = None
                try:
                    restart()
                except (OSError, RuntimeError, TimeoutError) as exc:
                    say(f"{name} did not start again: {exc}")
                else:
                    state.started = time.monotonic()
                    say(f"{name} restarted")

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
        """Services first (gateway, keys, documents, ledger), then NATS, then PostgreSQL."""
        running = [self.processes[n] for n in sorted(self.processes, key=_stop_rank)]
        for process in running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            _kill_group(process)
        if self.nats is not None:
            self.nats.stop()
        if self.postgres is not None:
            self.postgres.stop()


def _stop_rank(name: str) -> int:
    """A process's place in STOP_ORDER by its role (``keys-2`` is a keys replica)."""
    role = name.rsplit("-", 1)[0] if name[-1:].isdigit() else name
    return STOP_ORDER.index(role) if role in STOP_ORDER else len(STOP_ORDER)


@dataclass
class Restart:
    """When a child that exited is started again, with a growing delay."""

    backoff: Backoff = field(default_factory=lambda: Backoff(initial=1.0, maximum=30.0))
    due: float | None = None
    started: float = field(default_factory=time.monotonic)

    def schedule(self, now: float) -> float:
        """Plan the restart; return the delay."""
        if now - self.started > STABLE_SECONDS:
            self.backoff.reset()
        delay = self.backoff.next()
        self.due = now + delay
        return delay


def _exit_code(server: EmbeddedNats | EmbeddedPostgres) -> Callable[[], int | None]:
    def code() -> int | None:
        process = server.process
        return -1 if process is None else process.poll()

    return code


def _starter(server: EmbeddedNats | EmbeddedPostgres) -> Callable[[], None]:
    def start() -> None:
        server.start()  # same port, same data

    return start


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill what is left of a service's process group (e.g. render workers it spawned)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):  # nothing left
        os.killpg(process.pid, signal.SIGKILL)
