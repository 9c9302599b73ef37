"""The metering write-ahead journal: one ``write()`` per event before it is queued, and one
per request *intent* before the request is forwarded.

Each recorded event is appended to ``journal-<n>.jsonl`` in the spool directory, not fsync'd:
the OS page cache survives a killed process (SIGKILL, OOM), only a power loss can lose the
last lines (a timer fsyncs the file about once a second). An event is *resolved* once
JetStream acked it or the fsync'd spool holds it; an intent once its request's outcome is
journaled (or it never reached the upstream). Segments go oldest first: one is deleted (or,
the current one, truncated) only when it and every older segment are resolved, so an intent
still on disk always has its outcome, if there was one, on disk beside it. Segments rotate
when they grow. At start-up the lines of segments left by a crash move to the spool; an
intent without an outcome becomes its estimate (a ``RequestMetered`` marked ``estimated``,
at the request's reserved maximum cost), so a request in flight when the gateway died is
metered once, never free.
"""

from __future__ import annotations

import os
from pathlib import Path

from contracts.codec import UnknownEvent, decode
from contracts.events import RequestMetered
from services.gateway.adapters.spool import Spool

ROTATE_LINES = 4096
PREFIX = "journal-"
INTENT = b"intent "


class Journal:
    """Append-only segments with a count of unresolved events each; one event loop only."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._dir = directory
        self._segment = 0
        self._open: dict[int, int] = {}  # segment -> events written, not yet resolved
        self._closed: set[int] = set()  # older segments on disk whose lines are all resolved
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
        """One line of ``segment`` is dealt with; files go once they and all older ones are."""
        left = self._open[segment] - 1
        if left:
            self._open[segment] = left
            return
        del self._open[segment]
        if segment != self._segment:
            self._closed.add(segment)
        self._collect()

    def _collect(self) -> None:
        oldest_open = min(self._open, default=self._segment + 1)
        for segment in sorted(s for s in self._closed if s < oldest_open):
            self._path(segment).unlink(missing_ok=True)
            self._closed.discard(segment)
        if not self._open and not self._closed and self._lines:
            os.ftruncate(self._fd, 0)
            self._lines = 0

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
        """Close the file; remove the files whose lines were all resolved."""
        os.close(self._fd)
        if self._segment not in self._open:
            self._closed.add(self._segment)
        self._collect()

    def _rotate(self) -> None:
        os.close(self._fd)
        if self._segment not in self._open:
            self._closed.add(self._segment)
        self._segment += 1
        self._lines = 0
        self._fd = self._create(self._segment)
        self._collect()

    def _create(self, segment: int) -> int:
        return os.open(self._path(segment), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC)

    def _path(self, segment: int) -> Path:
        return self._dir / f"{PREFIX}{segment}.jsonl"


def intent_line(event: bytes) -> bytes:
    """The journal line of a request's intent: its estimated ``RequestMetered``, marked."""
    return INTENT + event


def recover(directory: Path, spool: Spool) -> int:
    """Move the lines of journal segments left by an earlier run into the spool, intents
    without an outcome as their estimates; return how many lines were spooled."""
    segments = sorted(directory.glob(f"{PREFIX}*.jsonl"), key=_number)
    lines = _outcomes([line for path in segments for line in _lines(path)])
    if lines:
        spool.append(lines)  # fsync'd before the segments go
    for path in segments:
        path.unlink()
    return len(lines)


def _outcomes(lines: list[bytes]) -> list[bytes]:
    events = [line for line in lines if not line.startswith(INTENT)]
    intents = [line.removeprefix(INTENT) for line in lines if line.startswith(INTENT)]
    done = {_request_id(line) for line in events}
    return events + [line for line in intents if _request_id(line) not in done]


def _request_id(line: bytes) -> object:
    try:
        event = decode(line)
    except UnknownEvent:
        return None  # a line torn by the crash: the spool skips it too
    return event.request_id if isinstance(event, RequestMetered) else event.event_id


def _number(path: Path) -> int:
    digits = path.stem.removeprefix(PREFIX)
    return int(digits) if digits.isdigit() else -1


def _lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().split(b"\n") if line.strip()]
