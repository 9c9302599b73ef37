"""Batches from a durable JetStream pull consumer, without nats-py's per-message machinery.

nats-py's ``PullSubscription.fetch`` waits for each message with its own task and
``asyncio.wait_for``: about two thirds of the ledger's CPU per event went there. This asks
for a batch the way ``fetch`` does on the wire (``$JS.API.CONSUMER.MSG.NEXT``, replies to
one inbox) and collects the replies itself, so a batch costs one wake-up, not one per message.

Even then, nats-py turned every delivered frame into a ``Msg`` with its headers parsed into a
dict (a third of what was left of the ledger's CPU: every USAGE message carries three headers)
and queued it for a callback task. The ledger needs none of that: only a frame's payload, its
ack subject, and for an empty frame the status on its first header line. So the inbox's frames
are taken straight from nats-py's protocol parser (``Client._process_msg``, for this inbox's
subscription only; every other subscription of the connection is untouched). Should a future
nats-py not have that method, the ordinary subscription callback is used instead, and the same
batches come out. Delivery is unchanged: messages are acked (or terminated) by the caller,
after its commit; one that arrives after a batch was handed over opens the next batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable, Iterable
from typing import NamedTuple

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError

# "No Messages" (a no-wait request found nothing) and "Request Timeout" (a waiting
# request expired): both simply end the batch.
_END_OF_BATCH = {"404", "408"}
_HEARTBEAT = "100"
_STATUS_LINE = b"NATS/1.0 "  # "NATS/1.0 404 No Messages\r\n...": a status frame's first line
_ACK, _TERM = b"", b"+TERM"


class PullFailed(NatsError):
    """The server ended a pull request with an error status (e.g. the consumer is gone)."""


class Delivery(NamedTuple):
    """One message of a batch: what the ledger reads of it, as it came off the wire."""

    subject: bytes
    reply: bytes  # the ack subject
    data: bytes

    @property
    def sequence(self) -> int:
        """The message's sequence in its stream, read from its ack subject.

        ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>``,
        or with ``<domain>.<account hash>`` after ``$JS.ACK`` (and a token more at the end)."""
        tokens = self.reply.split(b".")
        return int(tokens[5] if len(tokens) == 9 else tokens[7])


FrameHandler = Callable[[bytes, bytes, bytes, bytes | None], None]
_HANDLERS: weakref.WeakKeyDictionary[Client, dict[int, FrameHandler]]
_HANDLERS = weakref.WeakKeyDictionary()


def _frame_handlers(nc: Client) -> dict[int, FrameHandler] | None:
    """The connection's table of subscriptions whose frames bypass nats-py's ``Msg``s; the
    first call puts a dispatcher in front of ``_process_msg``. None: not possible here."""
    handlers = _HANDLERS.get(nc)
    if handlers is not None:
        return handlers
    original = getattr(nc, "_process_msg", None)
    if original is None:
        return None
    table: dict[int, FrameHandler] = {}

    async def process_msg(
        sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None
    ) -> None:
        handler = table.get(sid)
        if handler is None:
            await original(sid, subject, reply, data, headers)
        else:
            handler(subject, reply, data, headers)

    setattr(nc, "_process_msg", process_msg)  # noqa: B010 (an instance attribute on purpose)
    _HANDLERS[nc] = table
    return table


class BatchPuller:
    """Fetch up to N messages at a time from one durable consumer of one stream."""

    def __init__(self, nc: Client, stream: str, durable: str) -> None:
        self._nc = nc
        self._next = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = ""
        self._subscription: Subscription | None = None
        self._got: list[Delivery] = []
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
        handlers = _frame_handlers(self._nc)
        if handlers is not None:
            handlers[self._subscription._id] = self._on_frame

    async def stop(self) -> None:
        """Unsubscribe; unacked messages are redelivered after the consumer's ack wait."""
        subscription, self._subscription = self._subscription, None
        if subscription is None:
            return
        (_HANDLERS.get(self._nc) or {}).pop(subscription._id, None)
        if not self._nc.is_closed:
            await subscription.unsubscribe()

    async def fetch(self, batch: int, wait: float) -> list[Delivery]:
        """What is waiting now (up to ``batch``), or else the first to arrive within ``wait``."""
        got = await self._pull(batch, batch, {"no_wait": True}, wait)
        if got:
            return got
        expires = int(wait * 1_000_000_000)
        return await self._pull(1, batch, {"expires": expires}, wait + 1)

    async def settle(self, deliveries: Iterable[Delivery], terminated: set[int]) -> None:
        """Ack every delivery (terminate those whose sequence is in ``terminated``)."""
        publish = self._nc.publish
        for delivery in deliveries:
            verdict = _TERM if terminated and delivery.sequence in terminated else _ACK
            await publish(delivery.reply.decode(), verdict)

    async def _pull(
        self, want: int, batch: int, options: dict[str, object], wait: float
    ) -> list[Delivery]:
        self._want, self._status = want, None
        self._ended.clear()
        if len(self._got) < want:
            # Messages of an earlier waiting pull (it returns at its first message) may still
            # be arriving: ask only for the rest of the batch.
            request = {"batch": batch - len(self._got), **options}
            await self._nc.publish(self._next, orjson.dumps(request), reply=self._inbox)
            # Past ``wait`` (e.g. the request was lost in a reconnect): return what arrived.
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation
            # that arrives as the wait ends, and the ledger would never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._ended.wait()
        got, self._got = self._got, []
        if not got and self._status is not None and self._status not in _END_OF_BATCH:
            raise PullFailed(f"pull request ended with status {self._status}")
        return got

    def _on_frame(self, subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
        if not data and headers and headers.startswith(_STATUS_LINE):
            self._on_status(headers[len(_STATUS_LINE) : len(_STATUS_LINE) + 3].decode())
            return
        self._got.append(Delivery(subject, reply, data))
        if len(self._got) >= self._want:
            self._ended.set()

    def _on_status(self, status: str) -> None:
        if status != _HEARTBEAT:  # a heartbeat, not an end
            self._status = status
            self._ended.set()

    async def _on_msg(self, msg: Msg) -> None:
        # Only without the frame handler: the same, from nats-py's parsed message.
        headers = msg.headers
        if headers and not msg.data and "Status" in headers:
            self._on_status(headers["Status"])
            return
        self._on_frame(msg.subject.encode(), msg.reply.encode(), msg.data, None)
