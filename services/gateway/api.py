"""HTTP: the ``/v1`` routes, and the one place that turns errors into OpenAI's envelope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.codex import codex_config
from services.gateway.dialect import Dialect
from services.gateway.errors import GatewayError, NotFound
from services.gateway.exchange import authenticate
from services.gateway.key_info import key_info
from services.gateway.metrics import NO_MODEL
from services.gateway.opencode import opencode_config, public_base_url
from services.gateway.proxy import Proxy
from services.gateway.responses import RESPONSES, RESPONSES_PATH

MODELS_PATH = "/models"
OPENCODE_PATH = "/opencode.json"
CODEX_PATH = "/codex.toml"
KEY_PATH = "/key"
Handler = Callable[[Request], Awaitable[Response]]


def error_response(error: GatewayError) -> Response:
    """``{"error": {"message", "type", "param", "code"}}`` with the error's status and headers."""
    body = {
        "error": {"message": error.message, "type": error.type, "param": None, "code": error.code}
    }
    return Response(orjson.dumps(body), error.status, error.headers, "application/json")


def install_error_handlers(app: FastAPI) -> None:
    """Gateway errors and unknown routes answer in OpenAI's error envelope."""

    async def on_gateway_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatewayError)
        return error_response(exc)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        error = NotFound(f"{request.method} {request.url.path}: {exc.detail}")
        error.status = exc.status_code
        return error_response(error)

    app.add_exception_handler(GatewayError, on_gateway_error)
    app.add_exception_handler(StarletteHTTPException, on_http)


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


def _model_entry(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "ai-school"}


def _proxy(request: Request) -> Proxy:
    proxy: Proxy = request.app.state.proxy
    return proxy


def install_openai_routes(app: FastAPI) -> None:
    """``/v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings``, ``/v1/responses``,
    ``/v1/models``,
    ``/v1/key``, ``/v1/opencode.json`` and ``/v1/codex.toml``.

    Plain Starlette routes: the handlers read the raw body themselves, so FastAPI's
    dependency and validation machinery would only cost time on the hot path.
    """
    for path in ("/chat/completions", "/completions", "/embeddings"):
        app.add_route(f"/v1{path}", _forwarder(path), methods=["POST"])
    app.add_route(f"/v1{RESPONSES_PATH}", _forwarder(RESPONSES_PATH, RESPONSES), methods=["POST"])
    app.add_route("/v1/models", _counted(MODELS_PATH, _models), methods=["GET"])
    app.add_route("/v1/models/{name:path}", _counted(MODELS_PATH, _model), methods=["GET"])
    app.add_route(f"/v1{OPENCODE_PATH}", _counted(OPENCODE_PATH, _opencode), methods=["GET"])
    app.add_route(f"/v1{CODEX_PATH}", _counted(CODEX_PATH, _codex), methods=["GET"])
    app.add_route(f"/v1{KEY_PATH}", _counted(KEY_PATH, _key), methods=["GET"])


def _forwarder(path: str, dialect: Dialect | None = None) -> Handler:
    async def forward(request: Request) -> Response:
        return await _proxy(request).handle(request, path, dialect)

    return forward


def _counted(path: str, handler: Handler) -> Handler:
    async def serve(request: Request) -> Response:
        metrics = _proxy(request).metrics
        try:
            response = await handler(request)
        except Exception as exc:
            metrics.raised(path, NO_MODEL, exc)
            raise
        metrics.answered(path, NO_MODEL, response.status_code)
        return response

    return serve


async def _models(request: Request) -> Response:
    state = _proxy(request).state
    key = authenticate(state, request.headers)
    data = [_model_entry(name) for name in state.models if key.may_use(name)]
    return Response(orjson.dumps({"object": "list", "data": data}), media_type="application/json")


async def _model(request: Request) -> Response:
    state = _proxy(request).state
    key = authenticate(state, request.headers)
    name = request.path_params["name"]
    key.check_model(name, name in state.models)
    return Response(orjson.dumps(_model_entry(name)), media_type="application/json")


async def _key(request: Request) -> Response:
    """The caller's own key: budget, used, remaining, renewal, validity, models."""
    state = _proxy(request).state
    key = authenticate(state, request.headers)
    zone = state.projection.time_zone(key.school_id)
    info = key_info(key, state.budgets, state.models, zone)
    headers = {"Cache-Control": "no-store"}  # spend changes with every request
    return Response(orjson.dumps(info), headers=headers, media_type="application/json")


def _public_url(request: Request) -> str:
    return public_base_url(
        request.url.scheme,
        request.url.netloc,
        request.headers.get("x-forwarded-proto"),
        request.headers.get("x-forwarded-host"),
    )


# The tool configs depend on the forwarded headers: never cached.
NO_STORE = {"Cache-Control": "no-store"}


async def _opencode(request: Request) -> Response:
    """The OpenCode config for this gateway: no key needed, as it holds no secret."""
    config = opencode_config(_public_url(request), _proxy(request).state.models.values())
    return Response(orjson.dumps(config), headers=NO_STORE, media_type="application/json")


async def _codex(request: Request) -> Response:
    """The Codex CLI config for this gateway: no key needed, as it holds no secret."""
    config = codex_config(_public_url(request))
    return Response(config, headers=NO_STORE, media_type="application/toml")
