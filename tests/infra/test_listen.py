"""`up` binds each service's port itself, so no other process can take it meanwhile."""

from __future__ import annotations

import socket

import pytest

from infra.supervisor import listen


def test_a_taken_port_gives_another_port_that_is_already_listening() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        sock = listen(taken)
        try:
            port = sock.getsockname()[1]
            assert port != taken
            assert sock.get_inheritable()
            # Connections are accepted into the backlog before any service runs on it.
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                pass
        finally:
            sock.close()


def test_a_bound_port_cannot_be_taken_by_a_second_up() -> None:
    sock = listen(0)
    try:
        port = sock.getsockname()[1]
        second = listen(port)
        try:
            assert second.getsockname()[1] != port
        finally:
            second.close()
    finally:
        sock.close()


def test_a_restart_takes_its_own_port_or_says_it_is_taken() -> None:
    sock = listen(0)
    port = sock.getsockname()[1]
    try:
        with pytest.raises(OSError, match=f"port {port} on 127.0.0.1 is taken"):
            listen(port, fallback=False)
    finally:
        sock.close()
    again = listen(port, fallback=False)  # free again once the old owner is gone
    try:
        assert again.getsockname()[1] == port
    finally:
        again.close()
