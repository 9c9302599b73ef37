"""Read a stream's history in big batches over a connection of our own, for a fast catch-up.

nats-py spends about 20 µs on each message of an ordered consumer (a ``Msg`` object, its
headers parsed, its metadata parsed twice, a queue and a coroutine per message): a gateway
replaying a million keys spent most of its start-up there. ``replay`` creates an ephemeral
pull consumer (no acks, from ``first``), opens its own TCP connection to the server the
client is connected to, asks for batches of ``BATCH`` messages (two in flight) and cuts the
frames out of the byte stream itself: about 3 µs a message. Headers are not parsed.

It stops at the message with sequence ``target`` (or the last one the stream holds) and
returns the last sequence it handed to ``on_message``. Anything unexpected (TLS, a refused
login, a status from the server, a gap in the consumer's sequence, a stall) raises
``ReplayError`` after the messages handed over so far: the caller goes on from the sequence
after them with an ordinary consumer, so nothing is missed or applied twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable

import structlog
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

log = structlog.get_logger(__name__)

BATCH = 5_000
# A batch of 5 000 KEYS events is about 4 MB; the server sends no more than we asked for.
READ_LIMIT = 1 << 20
STALL_SECONDS = 10.0
# The consumer is deleted when we are done; if we crash, the server drops it after this.
INACTIVE_SECONDS = 60.0
CRLF = b"\r\n"


class ReplayError(Exception):
    """The batched read stopped early; carry on from the last sequence handed over."""


async def replay(
    nc: Client,
    stream: str,
    subjects: str,
    on_message: Callable[[int, bytes], None],
    *,
    first: int,
    target: int,
) -> int:
    """Hand every message of ``stream`` from sequence ``first`` up to ``target`` to
    ``on_message(sequence, data)`` in order; the last sequence handed over."""
    js = nc.jetstream()
    config = ConsumerConfig(
        name=f"replay-{uuid.uuid4().hex}",
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=first,
        ack_policy=AckPolicy.NONE,
        filter_subject=subjects,
        mem_storage=True,
        num_replicas=1,
        inactive_threshold=INACTIVE_SECONDS,
    )
    info = await js.add_consumer(stream, config)
    reader = _Reader(stream, info.name, target, on_message)
    try:
        await reader.run(nc)
    finally:
        with contextlib.suppress(Exception):  # the inactive threshold removes it anyway
            await js.delete_consumer(stream, info.name)
    return reader.last


class _Reader:
    """One batched read: the connection, the pull requests and the frame cutter."""

    def __init__(
        self, stream: str, consumer: str, target: int, on_message: Callable[[int, bytes], None]
    ) -> None:
        self._next = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}".encode()
        self._inbox = f"_INBOX.{uuid.uuid4().hex}".encode()
        self._target = target
        self._on_message = on_message
        self._writer: asyncio.StreamWriter | None = None
        self._asked = 0  # messages asked for
        self.delivered = 0  # consumer sequence of the last message (1, 2, ...)
        self.last = 0  # stream sequence of the last message handed over
        self.done = False

    async def run(self, nc: Client) -> None:
        url = nc.connected_url
        if url is None or url.hostname is None:
            raise ReplayError("not connected")
        reader, self._writer = await asyncio.open_connection(
            url.hostname, url.port or 4222, limit=READ_LIMIT
        )
        try:
            await self._login(reader, url.username, url.password)
            self._ask()
            self._ask()
            await self._read(reader)
        finally:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()

    async def _login(self, reader: asyncio.StreamReader, user: str | None, pw: str | None) -> None:
        async with asyncio.timeout(STALL_SECONDS):
            line = await reader.readline()
        if not line.startswith(b"INFO "):
            raise ReplayError("no INFO from the server")
        if json.loads(line[5:]).get("tls_required"):
            raise ReplayError("the server wants TLS")  # nats-py's consumer handles TLS
        options: dict[str, object] = {
            "verbose": False,
            "pedantic": False,
            "headers": True,
            "no_responders": True,
            "protocol": 1,
            "lang": "python-replay",
        }
        if user and pw:
            options |= {"user": user, "pass": pw}
        elif user:
            options["auth_token"] = user
        assert self._writer is not None
        self._writer.write(b"CONNECT %s\r\nPING\r\n" % json.dumps(options).encode())
        self._writer.write(b"SUB %s 1\r\n" % self._inbox)
        async with asyncio.timeout(STALL_SECONDS):
            answer = await reader.readline()
        if not answer.startswith(b"PONG"):
            raise ReplayError(f"login refused: {answer[:100]!r}")

    def _ask(self) -> None:
        """One more pull request of ``BATCH`` messages."""
        body = b'{"batch":%d,"expires":%d}' % (BATCH, int(STALL_SECONDS * 1e9))
        assert self._writer is not None
        self._writer.write(b"PUB %s %s %d\r\n%s\r\n" % (self._next, self._inbox, len(body), body))
        self._asked += BATCH

    async def _read(self, reader: asyncio.StreamReader) -> None:
        buffer = b""
        while not self.done:
            async with asyncio.timeout(STALL_SECONDS):
                chunk = await reader.read(READ_LIMIT)
            if not chunk:
                raise ReplayError("the server closed the connection")
            buffer = buffer + chunk if buffer else chunk
            buffer = buffer[self._frames(buffer) :]
            if self._asked - self.delivered < BATCH:
                self._ask()

    def _frames(self, buf: bytes) -> int:
        """Handle every whole frame in ``buf``; where the first incomplete one begins."""
        pos, size = 0, len(buf)
        while not self.done:
            end = buf.find(CRLF, pos)
            if end < 0:
                return pos
            if buf.startswith(b"HMSG ", pos) or buf.startswith(b"MSG ", pos):
                args = buf[pos:end].split()
                total = int(args[-1])
                start, stop = end + 2, end + 2 + total
                if stop + 2 > size:
                    return pos
                headed = args[0] == b"HMSG"
                header = int(args[-2]) if headed else 0
                if len(args) == (6 if headed else 5):
                    self._message(args[3], buf[start + header : stop])
                else:
                    _status(buf[start : start + header])
                pos = stop + 2
            elif buf.startswith(b"PING", pos):
                assert self._writer is not None
                self._writer.write(b"PONG\r\n")
                pos = end + 2
            elif buf.startswith(b"-ERR", pos):
                raise ReplayError(buf[pos:end].decode(errors="replace"))
            else:  # PONG, +OK, INFO (a cluster's new servers): nothing to do
                pos = end + 2
        return pos

    def _message(self, reply: bytes, data: bytes) -> None:
        # $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>
        # (servers with domains add two tokens after $JS.ACK).
        tokens = reply.split(b".")
        offset = {9: 0, 11: 2, 12: 2}.get(len(tokens))
        if offset is None:
            raise ReplayError(f"unexpected reply subject {reply[:100]!r}")
        sequence, delivered = int(tokens[5 + offset]), int(tokens[6 + offset])
        if delivered != self.delivered + 1:
            raise ReplayError(f"consumer sequence {delivered} after {self.delivered}")
        self.delivered = delivered
        self._on_message(sequence, data)
        self.last = sequence
        if sequence >= self._target or tokens[8 + offset] == b"0":
            self.done = True


def _status(header: bytes) -> None:
    """A status message for our pull requests: any of them means stop (408 would mean the
    stream holds fewer messages than it said; 409 a leader change or a deleted consumer)."""
    line = header.split(CRLF, 1)[0].decode(errors="replace")
    raise ReplayError(f"server status {line!r}")
