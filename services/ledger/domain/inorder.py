"""Completions run in the order work was handed out, however the work itself finishes."""

from __future__ import annotations

from collections.abc import Callable


class InOrder:
    """Hand out tickets; ``finish(ticket, then)`` runs ``then`` once every earlier ticket's
    ``then`` has run. The ledger writes batches concurrently, but its stream position (what
    readiness and tests wait for) must only move past a batch once every batch before it is
    committed."""

    def __init__(self) -> None:
        self._handed = 0
        self._next = 0
        self._waiting: dict[int, Callable[[], None]] = {}

    def ticket(self) -> int:
        """The next ticket, in the order the work is handed out."""
        self._handed += 1
        return self._handed - 1

    def finish(self, ticket: int, then: Callable[[], None]) -> None:
        """Work ``ticket`` is done: run its ``then`` now or when its turn comes."""
        self._waiting[ticket] = then
        while self._next in self._waiting:
            self._waiting.pop(self._next)()
            self._next += 1
