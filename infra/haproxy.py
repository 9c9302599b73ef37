"""HAProxy (Debian's ``haproxy``) in front of the gateway and keys replicas, on loopback.

Gateways: round-robin, or a hash of the ``Authorization`` header so that each key stays on
one replica (which keeps the one-gateway budget bound, README "Budgets are hard"). Keys: the
first replica serves and the second takes over when the first fails its ``/readyz``, so an
administrator reads what they just wrote. A replica is taken out after two failed checks a
second apart; a request whose connection is refused is sent to another replica.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from infra.embedded import wait_for_port


class Balance(StrEnum):
    """How HAProxy spreads requests over the gateways."""

    ROUND_ROBIN = "round-robin"
    KEY_HASH = "key-hash"


_BALANCE_LINES = {
    Balance.ROUND_ROBIN: ["balance roundrobin"],
    # Consistent hashing: when a gateway leaves, only its keys move to another one.
    Balance.KEY_HASH: ["balance hdr(Authorization)", "hash-type consistent"],
}

_DEFAULTS = """\
global
    maxconn 4096
    # Fail rather than share a port someone else listens on.
    noreuseport
    # One line per request on stdout, which is haproxy.log (no headers: no API key in it).
    log stdout format raw local0

defaults
    mode http
    log global
    option httplog
    option dontlognull
    # A refused connection is retried on another replica at once, not on the same one.
    option redispatch 1
    retries 2
    timeout connect 2s
    timeout client 610s
    timeout server 610s
    timeout queue 30s
    default-server inter 1s fall 2 rise 1
"""


def _backend(name: str, ports: list[int], balance: list[str], backup_after: int) -> str:
    lines = [f"backend {name}", *balance]
    lines += [
        "option httpchk",
        "http-check send meth GET uri /readyz",
        "http-check expect status 200",
    ]
    # Which replica answered, for an operator following a request (names only, no address).
    lines.append("http-response set-header X-AISchool-Replica %s")
    for i, port in enumerate(ports, start=1):
        backup = " backup" if i > backup_after else ""
        lines.append(f"server {name}-{i} 127.0.0.1:{port} check{backup}")
    return "\n    ".join(lines) + "\n"


def _frontend(name: str, port: int) -> str:
    return f"frontend {name}\n    bind 127.0.0.1:{port}\n    default_backend {name}\n"


def haproxy_config(
    gateway_port: int, gateways: list[int], keys_port: int, keys: list[int], balance: Balance
) -> str:
    """The configuration: a frontend and a backend for the gateways and for keys."""
    return "\n".join(
        [
            _DEFAULTS,
            _frontend("gateway", gateway_port),
            _backend("gateway", gateways, _BALANCE_LINES[balance], backup_after=len(gateways)),
            _frontend("keys", keys_port),
            _backend("keys", keys, ["balance first"], backup_after=1),
        ]
    )


def haproxy_binary() -> str:
    """Debian's ``haproxy`` on PATH (``make install`` installs it when missing)."""
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    if found is None:
        raise RuntimeError("haproxy not found: run `make install` as root, or apt install haproxy")
    return found


@dataclass
class HAProxy:
    """One ``haproxy`` process in the foreground, its configuration in data_dir."""

    data_dir: Path
    config: str
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self, timeout: float = 20) -> None:
        """Check the configuration, start HAProxy, and wait until it listens."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "haproxy.cfg"
        path.write_text(self.config)
        binary = haproxy_binary()
        subprocess.run([binary, "-c", "-q", "-f", str(path)], check=True, capture_output=True)
        with (self.data_dir / "haproxy.log").open("ab") as log:
            self.process = subprocess.Popen(
                [binary, "-db", "-f", str(path)], stdout=log, stderr=log
            )
        wait_for_port(self.port, timeout, self.process)

    def stop(self) -> None:
        """Stop at once (SIGTERM): open requests are the gateways' to finish or bill."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(15)
        self.process = None
