"""Batches from a durable JetStream pull consumer, without nats-py's per-message fetch.

nats-py's ``PullSubscription.fetch`` waits for each message with its own task and
``asyncio.wait_for``: about two thirds of the ledger's CPU per event went there. This asks
for a batch the way ``fetch`` does on the wire (``$JS.API.CONSUMER.MSG.NEXT``, replies to
one inbox) and collects the replies in a callback, so a batch costs one wake-up, not one
per message. Delivery is unchanged: messages are acked (or terminated) by the caller, after
its commit; one that arrives after a batch was handed over opens the next batch.
"""

from __future__ import annotations

import asyncio
import contextlib

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError

_STATUS = "Status"
# "No Messages" (a no-wait request found nothing) and "Request Timeout" (a waiting
# request expired): both simply end the batch.
_END_OF_BATCH = {"404", "408"}


class PullFailed(NatsError):
    """The server ended a pull request with an error status (e.g. the consumer is gone)."""


class BatchPuller:
    """Fetch up to N messages at a time from one durable consumer of one stream."""

    def __init__(self, nc: Client, stream: str, durable: str) -> None:
        self._nc = nc
        self._next = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = ""
        self._subscription: Subscription | None = None
        self._got: list[Msg] = []
        self._want = 0
        self._status: str | None = None
        self._ended = asyncio.Event()

    async def start(self) -> None:
        """Subscribe the inbox every batch is delivered to."""
        self._inbox = self._nc.new_inbox()
        self._subscription = await self._nc.subscribe(
            # No limits: a batch is bounded by its request and the consumer's max_ack_pending.
            self._inbox,
            cb=self._on_msg,
            pending_msgs_limit=0,
            pending_bytes_limit=0,
        )

    async def stop(self) -> None:
        """Unsubscribe; unacked messages are redelivered after the consumer's ack wait."""
        subscription, self._subscription = self._subscription, None
        if subscription is not None and not self._nc.is_closed:
            await subscription.unsubscribe()

    async def fetch(self, batch: int, wait: float) -> list[Msg]:
        """What is waiting now (up to ``batch``), or else the first to arrive within ``wait``."""
        got = await self._pull(batch, batch, {"no_wait": True}, wait)
        if got:
            return got
        expires = int(wait * 1_000_000_000)
        return await self._pull(1, batch, {"expires": expires}, wait + 1)

    async def _pull(
        self, want: int, batch: int, options: dict[str, object], wait: float
    ) -> list[Msg]:
        self._want, self._status = want, None
        self._ended.clear()
        if len(self._got) < want:
            # Messages of an earlier waiting pull (it returns at its first message) may still
            # be arriving: ask only for the rest of the batch.
            request = {"batch": batch - len(self._got), **options}
            await self._nc.publish(self._next, orjson.dumps(request), reply=self._inbox)
            # Past ``wait`` (e.g. the request was lost in a reconnect): return what arrived.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ended.wait(), wait)
        got, self._got = self._got, []
        if not got and self._status is not None and self._status not in _END_OF_BATCH:
            raise PullFailed(f"pull request ended with status {self._status}")
        return got

    async def _on_msg(self, msg: Msg) -> None:
        headers = msg.headers
        if headers and not msg.data and _STATUS in headers:
            if headers[_STATUS] != "100":  # 100: a heartbeat, not an end
                self._status = headers[_STATUS]
                self._ended.set()
            return
        self._got.append(msg)
        if len(self._got) >= self._want:
            self._ended.set()


def stream_sequence(msg: Msg) -> int:
    """The message's sequence in its stream, read from its ack subject.

    ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>``,
    or with ``<domain>.<account hash>`` after ``$JS.ACK`` (and a token more at the end)."""
    tokens = msg.reply.split(".")
    return int(tokens[5] if len(tokens) == 9 else tokens[7])
