"""The floor of the gateway's own HTTP stack: a pass-through with nothing of the gateway's work.

Same server (``infra.serve.run``: uvicorn with the gateway's settings and logging), the
framework the gateway had before it served its forwarding POSTs itself (``wire.py``): a
FastAPI app with a plain route and the ``DirectRoutes`` dispatch, kept as the first round
measured it (docs/benchmarks.md); same client
(``services.gateway.adapters.upstream.Upstream``: httpx on aiohttp's engine, the same pool, a
stream read as the gateway reads it): no key, no admission, no metering, the body forwarded as
it came, a stream relayed as it arrives.
``bench/gateway_floor.py`` runs it beside the gateway.

With ``--wire`` the same pass-through is served the way the gateway now serves its
forwarding POSTs (``services/gateway/adapters/wire.py``: ``GatewayApp``'s direct dispatch,
``RawRequest``, ``Whole`` and ``Streamed``): the floor of the gateway's current stack, the
fair reference for it (``make bench`` runs both).

    AISCHOOL_MODELS_FILE=models.toml ... .venv/bin/python -m bench.gateway_bare [--wire]
"""

from __future__ import annotations

import contextlib
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import httpx
from fastapi import FastAPI
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from infra.serve import run
from services.gateway.adapters.request_log import quiet_per_request_loggers
from services.gateway.adapters.upstream import Upstream, content_type
from services.gateway.adapters.wire import GatewayApp, RawRequest, Streamed, Whole
from services.gateway.api.openai import error_response
from services.gateway.app import NO_TELEMETRY, load_models
from services.gateway.domain.pricing import Model
from services.gateway.errors import GatewayError
from services.gateway.settings import GatewaySettings

PATH = "/chat/completions"
Handler = Callable[[Request], Awaitable[Response]]


def _first_model(settings: GatewaySettings) -> tuple[Upstream, Model]:
    """The gateway's upstream client and the models file's first model (both apps')."""
    models = load_models(settings)
    return Upstream(models, settings.upstream_timeout_seconds), next(iter(models.values()))


def _lifespan(upstream: Upstream) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        quiet_per_request_loggers()  # as the gateway does
        yield
        await upstream.aclose()

    return lifespan


def create_bare_app(settings: GatewaySettings) -> FastAPI:
    """``POST /v1/chat/completions`` forwarded to the models file's first model."""
    upstream, model = _first_model(settings)

    async def forward(request: Request) -> Response:
        body = await request.body()
        outgoing = upstream.build(model, PATH, body, uuid.uuid4())
        answer = await upstream.send(outgoing)
        media_type = answer.headers.get("content-type", "application/json")
        if media_type.startswith("text/event-stream"):
            close = BackgroundTask(answer.aclose)
            pieces = upstream.chunks(answer)  # as the gateway reads a stream
            return StreamingResponse(pieces, media_type=media_type, background=close)
        try:
            content = await upstream.read(answer)
        finally:
            await answer.aclose()
        return Response(content, answer.status_code, media_type=media_type)

    app = FastAPI(title="bare pass-through", lifespan=_lifespan(upstream), telemetry=NO_TELEMETRY)
    app.add_route(f"/v1{PATH}", forward, methods=["POST"])
    install_direct_routes(app)  # as the gateway serves its /v1 POSTs
    return app


class DirectRoutes:
    """ASGI middleware: a POST to one of the gateway's forwarding endpoints goes straight to
    its handler, errors answered as the exception handler would; all else to the router.

    The router's way (exception middleware, exit stack, a regex per route, two wrappers per
    request and per message sent) cost a fifth of the gateway's CPU per request in the
    profile (docs/benchmarks.md); behaviour is the same either way. It sits inside the
    server-error middleware, so a bug still answers 500."""

    def __init__(self, app: ASGIApp, routes: dict[str, Handler]) -> None:
        self.app, self.routes = app, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = None
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self.routes.get(scope["path"])
        if handler is None:
            await self.app(scope, receive, send)
            return
        try:
            response = await handler(Request(scope, receive))
        except GatewayError as error:
            response = error_response(error)
        await response(scope, receive, send)


def install_direct_routes(app: FastAPI) -> None:
    """Serve the ``/v1`` POST routes without path parameters through ``DirectRoutes``
    (call after every route is added)."""
    routes = {
        route.path: route.endpoint
        for route in app.router.routes
        if isinstance(route, Route)
        and route.path.startswith("/v1/")
        and route.methods == {"POST"}
        and not route.param_convertors
    }
    app.add_middleware(DirectRoutes, routes=routes)


class _Relay:
    """A stream's pieces as they arrive (the ``Pump`` that ``Streamed`` sends)."""

    def __init__(self, upstream: Upstream, answer: httpx.Response) -> None:
        self._upstream, self._answer = upstream, answer

    async def pump(self, send: Callable[[bytes], Awaitable[None]]) -> None:
        async for piece in self._upstream.chunks(self._answer):
            await send(piece)

    async def close(self) -> None:
        await self._answer.aclose()


def create_wire_app(settings: GatewaySettings) -> FastAPI:
    """The pass-through on the gateway's own ASGI path for its forwarding POSTs."""
    upstream, model = _first_model(settings)

    async def forward(scope: Scope, receive: Receive, send: Send) -> None:
        body = b"".join([piece async for piece in RawRequest(scope, receive).stream()])
        answer = await upstream.send(upstream.build(model, PATH, body, uuid.uuid4()))
        media_type = content_type(answer)
        if media_type.startswith("text/event-stream"):
            await Streamed(_Relay(upstream, answer), {}, media_type)(scope, receive, send)
            return
        try:
            content = await upstream.read(answer)
        finally:
            await answer.aclose()
        await Whole(content, answer.status_code, media_type=media_type)(scope, receive, send)

    app = GatewayApp(
        title="bare pass-through (wire)", lifespan=_lifespan(upstream), telemetry=NO_TELEMETRY
    )
    app.direct = {f"/v1{PATH}": forward}
    return app


def main() -> None:
    settings = GatewaySettings()  # from AISCHOOL_* variables
    create = create_wire_app if "--wire" in sys.argv[1:] else create_bare_app
    run(create(settings), settings)


if __name__ == "__main__":
    main()
