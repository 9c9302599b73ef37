"""Follow a JetStream stream from its start into memory, and know when we have caught up.

For in-memory projections (the gateway's keys and spend, a service's directory view): an
ordered consumer replays the whole stream in order, re-creates itself after a reconnect or
a gap, and needs no cleanup. ``caught_up`` is set once every message that existed when we
began has been applied; ``/readyz`` waits for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from contracts.codec import UnknownEvent, decode
from contracts.events import EventBase
from contracts.streams import StreamSpec

log = structlog.get_logger(__name__)

# The client re-creates an ordered consumer after two missed heartbeats. In a NATS cluster the
# consumer lives on one node: when that node dies while our connection (to another node) stays
# up, only the heartbeats tell. nats-py's default of 5 s stalled a gateway's KEYS projection
# (revocations!) for 10-15 s; 0.25 s notices within half a second, for 4 tiny messages a second.
IDLE_HEARTBEAT_SECONDS = 0.25


class Follower:
    """Applies every event of a stream, in order, to ``apply``."""

    def __init__(
        self,
        js: JetStreamContext,
        spec: StreamSpec,
        apply: Callable[[EventBase], None],
        skip: Callable[[Msg], bool] | None = None,
    ) -> None:
        self._js = js
        self._spec = spec
        self._apply = apply
        # A message ``skip`` says needs nothing (e.g. a gateway's own usage) is not decoded.
        self._skip = skip
        self._target = 0
        self.last_sequence = 0
        self.caught_up = asyncio.Event()
        self._subscription: object | None = None

    async def start(self) -> Follower:
        """Subscribe from the first message; returns at once (itself), catching up in the
        background."""
        info = await self._js.stream_info(self._spec.name)
        self._target = info.state.last_seq
        if self._target == 0:
            self.caught_up.set()
        self._subscription = await self._js.subscribe(
            f"{self._spec.subject_prefix}.>",
            stream=self._spec.name,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
            idle_heartbeat=IDLE_HEARTBEAT_SECONDS,
            cb=self._on_message,
        )
        return self

    async def stop(self) -> None:
        """Stop receiving."""
        if self._subscription is not None:
            await self._subscription.unsubscribe()  # type: ignore[attr-defined]

    async def _on_message(self, msg: Msg) -> None:
        try:
            if self._skip is None or not self._skip(msg):
                self._apply(decode(msg.data))
        except UnknownEvent:
            # A newer publisher's event type: skip it rather than stop following.
            log.warning("unknown_event_skipped", stream=self._spec.name)
        except Exception:
            # A bug in a projection must be seen in the logs, not lost in the client's
            # callback machinery; the follower goes on with the next event.
            log.exception(
                "projection_failed", stream=self._spec.name, seq=msg.metadata.sequence.stream
            )
        self.last_sequence = msg.metadata.sequence.stream
        if self.last_sequence >= self._target:
            self.caught_up.set()
