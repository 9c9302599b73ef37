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
    time.sleep(0.5)
    assert children, "up started no processes"
    assert [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE] == []

    # A second start reuses the data and does not show another bootstrap token.
    again = start_up(tmp_path / "data")
    try:
        output = read_until(again, "Press Ctrl-C", timeout=120)
        assert "ais-admin-" not in output
    finally:
        stop(again)
