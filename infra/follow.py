"""Follow a JetStream stream from its start into memory, and know when we have caught up.

For in-memory projections (the gateway's keys and spend, a service's directory view): an
ordered consumer replays the whole stream in order, re-creates itself after a reconnect or
a gap, and needs no cleanup. ``caught_up`` is set once every message that existed when we
began has been applied; ``/readyz`` waits for it.

With ``batched`` (the client ``js`` was made from) the history is first read in big batches
over a connection of our own (``infra/replay.py``: a million events in seconds, where the
ordered consumer takes minutes); the ordered consumer then follows live from the last one
applied, and a sequence at or before it is passed by: every event is applied once, in order.
If the batched read stops early (an error, NATS away), the ordered consumer goes on from the
last event it applied.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from contracts.codec import UnknownEvent, decode
from contracts.events import EventBase
from contracts.streams import StreamSpec
from infra.replay import replay
from infra.supervise import Backoff

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
        *,
        batched: Client | None = None,
        fast: Callable[[bytes], bool] | None = None,
    ) -> None:
        if batched is not None and skip is not None:
            raise ValueError("a batched catch-up reads no headers, so it cannot skip by them")
        self._js = js
        self._spec = spec
        self._apply = apply
        # A message ``skip`` says needs nothing (e.g. a gateway's own usage) is not decoded.
        self._skip = skip
        self._batched = batched
        # Applies an event straight from its bytes when it can (True), e.g. the bulk of a
        # replay; the others are decoded and given to ``apply``.
        self._fast = fast
        self._target = 0
        self.last_sequence = 0
        self.caught_up = asyncio.Event()
        self._subscription: object | None = None
        self._catching_up: asyncio.Task[None] | None = None

    async def start(self) -> Follower:
        """Subscribe from the first message; returns at once (itself), catching up in the
        background."""
        info = await self._js.stream_info(self._spec.name)
        self._target = info.state.last_seq
        if self._target == 0:
            self.caught_up.set()
        if self._batched is not None and self._target > 0:
            self._catching_up = asyncio.create_task(self._catch_up())
        else:
            await self._subscribe()
        return self

    async def stop(self) -> None:
        """Stop receiving."""
        if self._catching_up is not None:
            self._catching_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._catching_up
        if self._subscription is not None:
            await self._subscription.unsubscribe()  # type: ignore[attr-defined]

    async def _catch_up(self) -> None:
        """The history in batches, then the ordered consumer from the next sequence."""
        await self._replay()
        backoff = Backoff(0.25, 5.0)
        while True:
            try:
                await self._subscribe()
                return
            except Exception as exc:  # NATS away: the client reconnects, we try again
                log.warning("follow_subscribe_failed", stream=self._spec.name, error=str(exc))
                await asyncio.sleep(backoff.next())

    async def _replay(self) -> None:
        """Read the history in batches; when that stops early, the consumer goes on from the
        last message applied (the batched read may have stopped because NATS went away)."""
        assert self._batched is not None
        subjects = f"{self._spec.subject_prefix}.>"
        try:
            await replay(
                self._batched, self._spec.name, subjects, self._handle, first=1, target=self._target
            )
        except Exception as exc:  # ReplayError, NATS gone, ...
            log.warning(
                "batched_replay_stopped",
                stream=self._spec.name,
                seq=self.last_sequence,
                error=str(exc),
            )
        else:
            # It stopped at the target or at the last message the stream held (the target
            # itself may have been deleted or be of another subject): nothing older is left.
            self.caught_up.set()

    async def _subscribe(self) -> None:
        """The ordered consumer, from the last message applied (or the first): it hands that
        one over again and ``_handle`` passes it by, but now the client knows where it is.
        Started after it, the client would re-create it (after a reconnect or a lost node)
        from the stream's start until it had delivered a message, replaying the history."""
        start = self.last_sequence
        self._subscription = await self._js.subscribe(
            f"{self._spec.subject_prefix}.>",
            stream=self._spec.name,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE if start else DeliverPolicy.ALL,
            config=ConsumerConfig(opt_start_seq=start) if start else None,
            idle_heartbeat=IDLE_HEARTBEAT_SECONDS,
            cb=self._on_message,
        )

    async def _on_message(self, msg: Msg) -> None:
        self._handle(msg.metadata.sequence.stream, msg.data, msg)

    def _handle(self, sequence: int, data: bytes, msg: Msg | None = None) -> None:
        if sequence <= self.last_sequence:
            return  # applied already (read in the batched catch-up): each event once
        try:
            self._take(data, msg)
        except UnknownEvent:
            # A newer publisher's event type: skip it rather than stop following.
            log.warning("unknown_event_skipped", stream=self._spec.name)
        except Exception:
            # A bug in a projection must be seen in the logs, not lost in the client's
            # callback machinery; the follower goes on with the next event.
            log.exception("projection_failed", stream=self._spec.name, seq=sequence)
        self.last_sequence = sequence
        if sequence >= self._target:
            self.caught_up.set()

    def _take(self, data: bytes, msg: Msg | None) -> None:
        if msg is not None and self._skip is not None and self._skip(msg):
            return
        if self._fast is None or not self._fast(data):
            self._apply(decode(data))
