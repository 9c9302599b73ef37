"""The metering spool: fsync'd JSON lines on local disk while NATS is away.

Two files: new events are appended to ``pending.jsonl``; the drainer renames it to
``draining.jsonl``, publishes every line and deletes the file only after JetStream acked all
of them. A crash at any point leaves each event in one of the files (or already in USAGE),
and re-publishing one that JetStream already has is dropped by its ``Nats-Msg-Id``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


class Spool:
    """Append-only JSON lines with an atomic hand-over to the drainer; thread-safe."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._dir = directory
        self.pending = directory / "pending.jsonl"
        self.draining = directory / "draining.jsonl"
        self._lock = threading.Lock()
        # Counts for /metrics: lines waiting (also those left by an earlier run), lines ever
        # appended by this process, and how many the drainer took.
        self.backlog = len(_lines(self.draining)) + len(_lines(self.pending))
        self.appended = 0
        self._taken = 0

    def append(self, lines: list[bytes]) -> None:
        """Write lines and fsync them before returning."""
        with self._lock, self.pending.open("ab") as file:
            file.write(b"".join(line + b"\n" for line in lines))
            file.flush()
            os.fsync(file.fileno())
            self.backlog += len(lines)
            self.appended += len(lines)

    def has_data(self) -> bool:
        """True while anything waits to be published."""
        with self._lock:
            return self.draining.exists() or _size(self.pending) > 0

    def take(self) -> list[bytes]:
        """The lines to publish next (the draining file, made from pending if needed)."""
        with self._lock:
            if not self.draining.exists() and self.pending.exists():
                os.replace(self.pending, self.draining)
                self._sync_dir()
            lines = _lines(self.draining)
            self._taken = len(lines)
            return lines

    def done(self) -> None:
        """The taken lines are all in JetStream: forget them."""
        with self._lock:
            self.draining.unlink(missing_ok=True)
            self._sync_dir()
            self.backlog -= self._taken
            self._taken = 0

    def read_all(self) -> list[bytes]:
        """Every line still waiting, oldest first (used at start-up)."""
        with self._lock:
            return _lines(self.draining) + _lines(self.pending)

    def _sync_dir(self) -> None:
        fd = os.open(self._dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _lines(path: Path) -> list[bytes]:
    try:
        return [line for line in path.read_bytes().split(b"\n") if line.strip()]
    except FileNotFoundError:
        return []
