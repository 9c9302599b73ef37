"""Publish a batch of usage events to JetStream and wait for all their acks at once.

``JetStreamContext.publish`` is a request per event: a new inbox token, a future, a timer
(``asyncio.wait_for``) and a parsed ``PubAck`` each, which cost the gateway about a tenth of
a request's CPU (docs/benchmarks.md). Here each event is sent with a reply subject under one
inbox of ours; the acks arrive on one subscription and resolve their futures, and the batch
waits once, with one time-out. An event counts as published only when JetStream acked it
(a duplicate's ack too: the stream already holds it); one without an ack in time is
reported failed and goes to the spool, exactly as a failed single publish did.
"""

from __future__ import annotations

import asyncio
import itertools

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

Event = tuple[str, bytes, dict[str, str]]  # subject, data, headers


class BatchPublisher:
    """Pipelined JetStream publishes with acknowledgement; one event loop only."""

    def __init__(self, nc: Client, timeout: float) -> None:
        self._nc, self._timeout = nc, timeout
        self._prefix = nc.new_inbox()
        self._tokens = itertools.count()
        self._pending: dict[str, asyncio.Future[bool]] = {}
        self._subscription: Subscription | None = None

    async def publish(self, events: list[Event]) -> list[bool]:
        """Send every event, then wait (at most the time-out) for their acks: acked or not."""
        if self._subscription is None:
            self._subscription = await self._nc.subscribe(f"{self._prefix}.*", cb=self._acked)
        loop = asyncio.get_running_loop()
        waiting: list[tuple[str, asyncio.Future[bool]]] = []
        try:
            for subject, data, headers in events:
                token = str(next(self._tokens))
                future = self._pending[token] = loop.create_future()
                waiting.append((token, future))
                await self._nc.publish(
                    subject, data, reply=f"{self._prefix}.{token}", headers=headers
                )
            await asyncio.wait([future for _, future in waiting], timeout=self._timeout)
        finally:
            for token, _ in waiting:
                self._pending.pop(token, None)
        return [future.done() and future.result() for _, future in waiting]

    async def _acked(self, msg: Msg) -> None:
        future = self._pending.get(msg.subject.rpartition(".")[2])
        if future is not None and not future.done():
            # A PubAck names the stream and sequence; a refusal is {"error": ...}, and "no
            # responders" (no such stream) comes as an empty status message.
            future.set_result(bool(msg.data) and b'"error"' not in msg.data)
