"""The metering write-ahead journal: one ``write()`` per event before it is queued.

Each recorded event is appended to ``journal-<n>.jsonl`` in the spool directory, not fsync'd:
the OS page cache survives a killed process (SIGKILL, OOM), only a power loss can lose the
last lines (a timer fsyncs the file about once a second). An event is *resolved* once
JetStream acked it or the fsync'd spool holds it; a segment whose events are all resolved is
truncated (the current one) or deleted (an older one). Segments rotate when they grow, so a
publisher that never empties its queue still lets old segments go. At start-up the lines of
segments left by a crash move to the spool, and are then counted and re-published like it.
"""

from __future__ import annotations

import os
from pathlib import Path

from services.gateway.spool import Spool

ROTATE_LINES = 4096
PREFIX = "journal-"


class Journal:
    """Append-only segments with a count of unresolved events each; one event loop only."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._dir = directory
        self._segment = 0
        self._open: dict[int, int] = {}  # segment -> events written, not yet resolved
        self._lines = 0  # lines in the current segment file
        self._fd = self._create(0)
        self._dirty = False

    def write(self, line: bytes) -> int:
        """Append one JSON line; return its segment (hand it to ``resolve`` later)."""
        if self._lines >= ROTATE_LINES:
            self._rotate()
        os.write(self._fd, line + b"\n")
        self._lines += 1
        self._dirty = True
        self._open[self._segment] = self._open.get(self._segment, 0) + 1
        return self._segment

    def resolve(self, segment: int) -> None:
        """One event of ``segment`` is in JetStream or the spool; drop the segment when done."""
        left = self._open[segment] - 1
        if left:
            self._open[segment] = left
            return
        del self._open[segment]
        if segment == self._segment:
            os.ftruncate(self._fd, 0)
            self._lines = 0
        else:
            self._path(segment).unlink(missing_ok=True)

    @property
    def unresolved(self) -> int:
        """Events journaled and neither acked nor spooled yet."""
        return sum(self._open.values())

    @property
    def fd(self) -> int:
        """The current segment's file descriptor (for the fsync timer)."""
        return self._fd

    def take_dirty(self) -> bool:
        """True once after each run of writes: the fsync timer then syncs ``fd``."""
        dirty, self._dirty = self._dirty, False
        return dirty

    def close(self) -> None:
        """Close the file; remove it when every event in it was resolved."""
        os.close(self._fd)
        if self._segment not in self._open:
            self._path(self._segment).unlink(missing_ok=True)

    def _rotate(self) -> None:
        os.close(self._fd)
        if self._segment not in self._open:
            self._path(self._segment).unlink(missing_ok=True)
        self._segment += 1
        self._lines = 0
        self._fd = self._create(self._segment)

    def _create(self, segment: int) -> int:
        return os.open(self._path(segment), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC)

    def _path(self, segment: int) -> Path:
        return self._dir / f"{PREFIX}{segment}.jsonl"


def recover(directory: Path, spool: Spool) -> int:
    """Move the lines of journal segments left by an earlier run into the spool; how many."""
    segments = sorted(directory.glob(f"{PREFIX}*.jsonl"), key=_number)
    lines = [line for path in segments for line in _lines(path)]
    if lines:
        spool.append(lines)  # fsync'd before the segments go
    for path in segments:
        path.unlink()
    return len(lines)


def _number(path: Path) -> int:
    digits = path.stem.removeprefix(PREFIX)
    return int(digits) if digits.isdigit() else -1


def _lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().split(b"\n") if line.strip()]
