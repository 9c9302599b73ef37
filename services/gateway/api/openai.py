"""HTTP: the ``/v1`` routes, and the one place that turns errors into OpenAI's envelope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.gateway.adapters.wire import Answer, RawRequest, RawRoute, Whole, add_raw_route
from services.gateway.adapters.wire import Handler as RawHandler
from services.gateway.domain.codex import codex_config
from services.gateway.domain.dialect import Dialect
from services.gateway.domain.key_info import key_info
from services.gateway.domain.opencode import opencode_config, public_base_url
from services.gateway.domain.responses import RESPONSES, RESPONSES_PATH
from services.gateway.errors import GatewayError, NotFound
from services.gateway.metrics import NO_MODEL
from services.gateway.runtime import proxy_of
from services.gateway.usecases.exchange import authenticate
from services.gateway.usecases.proxy import Proxy

MODELS_PATH = "/models"
OPENCODE_PATH = "/opencode.json"
CODEX_PATH = "/codex.toml"
KEY_PATH = "/key"
Handler = Callable[[Request], Awaitable[Response]]


def error_body(error: GatewayError) -> bytes:
    """``{"error": {"message", "type", "param", "code"}}``."""
    body = {
        "error": {"message": error.message, "type": error.type, "param": None, "code": error.code}
    }
    return orjson.dumps(body)


def error_response(error: GatewayError) -> Response:
    """OpenAI's error envelope with the error's status and headers."""
    return Response(error_body(error), error.status, error.headers, "application/json")


def error_answer(error: GatewayError) -> Whole:
    """``error_response`` for the forwarding routes' own ASGI (``wire.py``)."""
    return Whole(error_body(error), error.status, error.headers)


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


def _model_entry(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "ai-school"}


def _proxy(request: Request) -> Proxy:
    return proxy_of(request.app)


def install_openai_routes(app: FastAPI) -> None:
    """``/v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings``, ``/v1/responses``,
    ``/v1/models``,
    ``/v1/key``, ``/v1/opencode.json`` and ``/v1/codex.toml``.

    The forwarding POSTs are ``RawRoute``s (``wire.py``: no framework object per request);
    the others plain Starlette routes: the handlers read the raw body themselves, so
    FastAPI's dependency and validation machinery would only cost time.
    """
    for path in ("/chat/completions", "/completions", "/embeddings"):
        forward = RawRoute(partial(proxy_of, app), _forwarder(path), error_answer)
        add_raw_route(app, f"/v1{path}", forward)
    responses = RawRoute(
        partial(proxy_of, app), _forwarder(RESPONSES_PATH, RESPONSES), error_answer
    )
    add_raw_route(app, f"/v1{RESPONSES_PATH}", responses)
    app.add_route("/v1/models", _counted(MODELS_PATH, _models), methods=["GET"])
    app.add_route("/v1/models/{name:path}", _counted(MODELS_PATH, _model), methods=["GET"])
    app.add_route(f"/v1{OPENCODE_PATH}", _counted(OPENCODE_PATH, _opencode), methods=["GET"])
    app.add_route(f"/v1{CODEX_PATH}", _counted(CODEX_PATH, _codex), methods=["GET"])
    app.add_route(f"/v1{KEY_PATH}", _counted(KEY_PATH, _key), methods=["GET"])


def _forwarder(path: str, dialect: Dialect | None = None) -> RawHandler:
    async def forward(proxy: Proxy, request: RawRequest) -> Answer:
        return await proxy.handle(request, path, dialect)

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
