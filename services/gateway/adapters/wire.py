"""The forwarding routes' own ASGI: a request's headers and body in, an answer out through
the server's ``send``, with no framework object on the way.

Starlette's ``Request``, ``Response`` and ``StreamingResponse`` and FastAPI's outer
middlewares (server errors, body limit, telemetry: a wrapper per message sent) cost more CPU
per request than the gateway's own work (docs/benchmarks.md, "second round"); what they do
for these routes is done here, with the same bytes on the wire: the same headers in the same
order, ``text/*`` types with their charset, a stream cut off when its client goes away.
``GatewayApp`` serves these routes before the framework sees the request; every other route
(and every method but POST) goes through FastAPI as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from fastapi import FastAPI
from starlette.requests import ClientDisconnect
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.errors import GatewayError

if TYPE_CHECKING:
    from services.gateway.usecases.proxy import Proxy

RawHeaders = list[tuple[bytes, bytes]]
INTERNAL_ERROR = b"Internal Server Error"


class Incoming(Protocol):
    """What the forwarding code reads of a request (a Starlette ``Request`` has it too)."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    def stream(self) -> AsyncIterator[bytes]: ...


class Answer(Protocol):
    """An answer the route sends itself."""

    status_code: int

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


class RawRequest:
    """The request's headers (lower-case names, the first of repeated ones, as Starlette's
    ``Headers.get``) and its body as the server hands it over."""

    __slots__ = ("_receive", "headers")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self._receive = receive
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1")
            if key not in headers:
                headers[key] = value.decode("latin-1")
        self.headers = headers

    async def stream(self) -> AsyncIterator[bytes]:
        """The body's pieces; ``ClientDisconnect`` if the client leaves before its end."""
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            body = message.get("body", b"")
            if body:
                yield body
            if not message.get("more_body", False):
                return


def raw_headers(
    headers: Mapping[str, str] | None, length: int | None, media_type: str
) -> RawHeaders:
    """Starlette's header list: the given ones, then content-length, then content-type."""
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    if length is not None:
        raw.append((b"content-length", str(length).encode()))
    if media_type.startswith("text/") and "charset=" not in media_type.lower():
        media_type += "; charset=utf-8"
    raw.append((b"content-type", media_type.encode("latin-1")))
    return raw


class Whole:
    """A whole answer: start and body in two sends."""

    __slots__ = ("_body", "_headers", "status_code")

    def __init__(
        self,
        body: bytes,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str = "application/json",
    ) -> None:
        self._body, self.status_code = body, status_code
        self._headers = raw_headers(headers, len(body), media_type)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self._headers}
        )
        await send({"type": "http.response.body", "body": self._body})


class Pump(Protocol):
    """A stream's source: sends its pieces (``more_body``), then is closed once, always."""

    async def pump(self, send: Callable[[bytes], Awaitable[None]]) -> None: ...

    async def close(self) -> None: ...


class Streamed:
    """A streamed answer. While it streams, one task waits for the client to leave and then
    cancels the stream (what Starlette's task group did, with one task instead of two and
    its cancel scopes); the source is closed, shielded, whatever happened."""

    __slots__ = ("_headers", "_source", "status_code")

    def __init__(self, source: Pump, headers: Mapping[str, str], media_type: str) -> None:
        self._source, self.status_code = source, 200
        self._headers = raw_headers(headers, None, media_type)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        streaming = True
        left = asyncio.ensure_future(_disconnected(receive))

        def cut(_: object) -> None:
            # Runs from the loop once the client has gone: only while the pieces flow.
            if streaming:
                task.cancel()

        left.add_done_callback(cut)

        async def body(piece: bytes) -> None:
            await send({"type": "http.response.body", "body": piece, "more_body": True})

        try:
            await send({"type": "http.response.start", "status": 200, "headers": self._headers})
            await self._source.pump(body)
            streaming = False
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not streaming or not left.done() or left.cancelled():
                raise  # not the client leaving: the server is stopping
            task.uncancel()
        finally:
            streaming = False
            left.cancel()
            await asyncio.shield(self._source.close())


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


Envelope = Callable[[GatewayError], Answer]
Handler = Callable[["Proxy", RawRequest], Awaitable[Answer]]


class RawRoute:
    """The ASGI app of one route: ``handler(proxy_of(), request)``, a GatewayError answered
    in the route's error envelope. Mounted as the framework route's app too, so the router and
    ``GatewayApp`` serve it the same way."""

    def __init__(self, proxy_of: Callable[[], Proxy], handler: Handler, envelope: Envelope) -> None:
        self._proxy_of, self._handler, self._envelope = proxy_of, handler, envelope

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = RawRequest(scope, receive)
        try:
            answer = await self._handler(self._proxy_of(), request)
        except GatewayError as error:
            answer = self._envelope(error)
        except Exception:
            # As Starlette's server-error middleware: a plain 500, the bug raised on to the
            # server, which logs it.
            await Whole(INTERNAL_ERROR, 500, media_type="text/plain")(scope, receive, send)
            raise
        await answer(scope, receive, send)


def add_raw_route(app: FastAPI, path: str, route: RawRoute) -> None:
    """Mount ``route`` as the app's ``POST path`` (other methods: 405, as for any route)."""
    app.router.routes.append(Route(path, route, methods=["POST"]))


class GatewayApp(FastAPI):
    """FastAPI, with the POST routes in ``direct`` served before its middlewares."""

    direct: dict[str, ASGIApp]

    def serve_directly(self) -> None:
        """Take every ``RawRoute`` of the router into ``direct`` (after all are added)."""
        self.direct = {
            route.path: route.endpoint
            for route in self.router.routes
            if isinstance(route, Route) and isinstance(route.endpoint, RawRoute)
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            route = self.direct.get(scope["path"])
            if route is not None:
                await route(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
