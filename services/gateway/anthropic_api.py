"""HTTP: ``/v1/messages`` and ``/v1/messages/count_tokens``, errors in Anthropic's envelope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.anthropic import (
    COUNT_TOKENS_PATH,
    MESSAGES,
    MESSAGES_PATH,
    error_body,
    prepare,
    validate_messages,
)
from services.gateway.errors import GatewayError
from services.gateway.exchange import authenticate, model_for
from services.gateway.metrics import NO_MODEL
from services.gateway.proxy import Proxy, parse_object, read_body

Handler = Callable[[Request], Awaitable[Response]]


def install_anthropic_routes(app: FastAPI) -> None:
    """The Messages API (Claude Code, the anthropic SDK) on the gateway's keys and budgets."""
    app.add_route(f"/v1{MESSAGES_PATH}", _enveloped(_messages), methods=["POST"])
    app.add_route(f"/v1{COUNT_TOKENS_PATH}", _enveloped(_count_tokens), methods=["POST"])


def _enveloped(handler: Handler) -> Handler:
    async def serve(request: Request) -> Response:
        try:
            return await handler(request)
        except GatewayError as error:
            return Response(error_body(error), error.status, error.headers, "application/json")

    return serve


def _proxy(request: Request) -> Proxy:
    proxy: Proxy = request.app.state.proxy
    return proxy


async def _messages(request: Request) -> Response:
    return await _proxy(request).handle(request, MESSAGES_PATH, MESSAGES)


async def _count_tokens(request: Request) -> Response:
    """The upstream's count of a request's input tokens: free, so neither reserved nor
    metered, but only for a valid key and a model it may use."""
    proxy, model = _proxy(request), NO_MODEL
    try:
        response = await _count(proxy, request)
    except Exception as exc:
        proxy.metrics.raised(COUNT_TOKENS_PATH, model, exc)
        raise
    proxy.metrics.answered(COUNT_TOKENS_PATH, model, response.status_code)
    return response


async def _count(proxy: Proxy, request: Request) -> Response:
    state = proxy.state
    key = authenticate(state, request.headers)
    raw = await read_body(request, proxy.max_body_bytes)
    body = parse_object(raw)
    validate_messages(body, counting=True)
    model = model_for(state, key, body.get("model"))
    MESSAGES.check(model)
    content, _ = prepare(raw, body, model, None)
    passed = MESSAGES.passed(request.headers)
    outgoing = proxy.upstream.build(model, COUNT_TOKENS_PATH, content, state.new_id(), passed)
    response = await proxy.upstream.send(outgoing)
    try:
        answer = await proxy.upstream.read(response)
    finally:
        await response.aclose()
    media_type = response.headers.get("content-type", "application/json")
    return Response(answer, response.status_code, media_type=media_type)
