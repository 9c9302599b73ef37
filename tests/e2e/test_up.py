"""``aischool up`` starts everything, reports four ready URLs, and leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil


def read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> str:
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        assert time.monotonic() < deadline, f"no {marker!r} after {timeout}s:\n{seen}"
        line = process.stdout.readline()
        assert line or process.poll() is None, f"up exited early:\n{seen}"
        seen += line
    return seen


def start_up(data_dir: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AISCHOOL_")}
    return subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "up", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)


def test_up_prints_four_ready_urls_and_ctrl_c_leaves_no_process(tmp_path: Path) -> None:
    process = start_up(tmp_path / "data")
    children: list[psutil.Process] = []
    try:
        output = read_until(process, "Press Ctrl-C", timeout=120)
        children = psutil.Process(process.pid).children(recursive=True)
        urls = sorted(set(re.findall(r"http://127\.0\.0\.1:\d+", output)))
        assert len(urls) == 4
        assert re.search(r"Coding page: http://127\.0\.0\.1:\d+/ ", output)
        for url in urls:
            assert httpx.get(f"{url}/readyz").status_code == 200
        token = re.search(r"ais-admin-\w+", output)
        assert token is not None
    finally:
        stop(process)
    # The same half second as before, but over as soon as every child has exited.
    psutil.wait_procs(children, timeout=0.5)
    assert children, "up started no processes"
    assert [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE] == []

    # A second start reuses the data and does not show another bootstrap token.
    again = start_up(tmp_path / "data")
    try:
        output = read_until(again, "Press Ctrl-C", timeout=120)
        assert "ais-admin-" not in output
    finally:
        stop(again)


def child(process: subprocess.Popen[str], *words: str, timeout: float = 30) -> psutil.Process:
    """The child whose command line has all ``words`` (waiting while ``up`` restarts one)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = []
        for candidate in psutil.Process(process.pid).children(recursive=True):
            try:
                line = candidate.cmdline()
            except psutil.Error:  # gone meanwhile
                continue
            seen.append(" ".join(line))
            if all(any(word in part for part in line) for word in words):
                return candidate
        assert time.monotonic() < deadline, f"no child process with {words} among {seen}"
        time.sleep(0.2)


def wait_ready(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} not ready after {timeout}s"
        time.sleep(0.2)


def test_up_restarts_a_killed_service_and_nats_says_so_and_leaves_nothing(tmp_path: Path) -> None:
    process = start_up(tmp_path / "data")
    children: list[psutil.Process] = []
    try:
        output = read_until(process, "Press Ctrl-C", timeout=120)
        gateway = _url(output, "Coding endpoint")
        ledger = _url(output, "Ledger reports API")
        child(process, "ledger", "serve").kill()
        read_until(process, "up: ledger restarted", timeout=30)
        wait_ready(ledger)
        child(process, "nats-server").kill()
        read_until(process, "up: nats restarted", timeout=30)
        wait_ready(gateway)
        wait_ready(ledger)
        children = psutil.Process(process.pid).children(recursive=True)
    finally:
        stop(process)
    # The same half second as before, but over as soon as every child has exited.
    psutil.wait_procs(children, timeout=0.5)
    assert children
    assert [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE] == []


def _url(output: str, label: str) -> str:
    """The loopback URL ``up`` printed on the line with ``label`` (without ``/v1``)."""
    found = re.search(rf"{label}.*?(http://127\.0\.0\.1:\d+)", output)
    assert found is not None, output
    return found.group(1)
