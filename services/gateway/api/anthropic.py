"""HTTP: ``/v1/messages`` and ``/v1/messages/count_tokens``, errors in Anthropic's envelope."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from services.gateway.adapters.upstream import content_type
from services.gateway.adapters.wire import Answer, RawRequest, RawRoute, Whole, add_raw_route
from services.gateway.domain.anthropic import (
    COUNT_TOKENS_PATH,
    MESSAGES,
    MESSAGES_PATH,
    error_body,
    prepare,
    validate_messages,
)
from services.gateway.errors import GatewayError
from services.gateway.metrics import NO_MODEL
from services.gateway.runtime import proxy_of
from services.gateway.usecases.exchange import authenticate, model_for
from services.gateway.usecases.proxy import Proxy, parse_object, read_body

JSON = "application/json"


def install_anthropic_routes(app: FastAPI) -> None:
    """The Messages API (Claude Code, the anthropic SDK) on the gateway's keys and budgets,
    served by the forwarding routes' own ASGI (``wire.py``)."""
    messages = RawRoute(partial(proxy_of, app), _messages, _enveloped)
    add_raw_route(app, f"/v1{MESSAGES_PATH}", messages)
    count = RawRoute(partial(proxy_of, app), _count_tokens, _enveloped)
    add_raw_route(app, f"/v1{COUNT_TOKENS_PATH}", count)


def _enveloped(error: GatewayError) -> Answer:
    return Whole(error_body(error), error.status, error.headers)


async def _messages(proxy: Proxy, request: RawRequest) -> Answer:
    return await proxy.handle(request, MESSAGES_PATH, MESSAGES)


async def _count_tokens(proxy: Proxy, request: RawRequest) -> Answer:
    """The upstream's count of a request's input tokens: free, so neither reserved nor
    metered, but only for a valid key and a model it may use."""
    model = NO_MODEL
    try:
        response = await _count(proxy, request)
    except Exception as exc:
        proxy.metrics.raised(COUNT_TOKENS_PATH, model, exc)
        raise
    proxy.metrics.answered(COUNT_TOKENS_PATH, model, response.status_code)
    return response


async def _count(proxy: Proxy, request: RawRequest) -> Whole:
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
    return Whole(answer, response.status_code, media_type=content_type(response) or JSON)
