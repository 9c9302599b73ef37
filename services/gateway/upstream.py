"""The hop to the models' servers: one httpx client, the transport chosen in one line.

The upstream's API key is read from the environment once, put only on the outgoing request,
and never logged or returned: errors carry status and body of the upstream, not our request.

The request path builds an ``httpx.Request`` from a URL parsed once per model and path and
hands it straight to the transport: ``AsyncClient.send`` would add redirects, auth flows and
a cookie jar the gateway never uses, which cost about a third of a request's CPU
(docs/benchmarks.md). The built-in demo model has a transport of its own (in-process ASGI).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit
from uuid import UUID

import httpx
from httpx_aiohttp import AiohttpTransport

from services.gateway.demo import demo_app
from services.gateway.errors import UpstreamTimeout, UpstreamUnavailable
from services.gateway.pricing import DEMO_BASE_URL, Model

ANTHROPIC_VERSION = "2023-06-01"
# HTTP/1.1: every open stream holds a connection of its own, so the pool must admit as many
# as the gateway has students streaming at once (2 000 measured, docs/benchmarks.md).
POOL = httpx.Limits(max_connections=8192, max_keepalive_connections=512)


def make_transport() -> httpx.AsyncBaseTransport:
    """The upstream transport: aiohttp's engine under httpx's API (see docs/benchmarks.md)."""
    return AiohttpTransport(limits=POOL)  # plain httpx: httpx.AsyncHTTPTransport(limits=POOL)


class Upstream:
    """Sends requests to a model's server; maps time-outs and connection errors to ours."""

    def __init__(
        self,
        models: Mapping[str, Model],
        timeout_seconds: float,
        connect_timeout_seconds: float = 10.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self._secrets = {
            name: env.get(model.api_key_env, "")
            for name, model in models.items()
            if model.api_key_env
        }
        self._demo_host = urlsplit(DEMO_BASE_URL).hostname
        self._transport = make_transport()
        self._demo = httpx.ASGITransport(demo_app())
        timeout = httpx.Timeout(timeout_seconds, connect=connect_timeout_seconds)
        self._extensions = {"timeout": timeout.as_dict()}
        self._urls: dict[str, httpx.URL] = {}

    def build(
        self,
        model: Model,
        path: str,
        body: bytes,
        request_id: UUID,
        passed: Mapping[str, str] | None = None,
    ) -> httpx.Request:
        """The upstream request for ``path`` (e.g. ``/chat/completions``) with our credentials
        (``x-api-key`` for an Anthropic upstream) and the client's ``passed`` headers."""
        headers = {
            **(passed or {}),
            "content-type": "application/json",
            "accept-encoding": "identity",
            "x-client-request-id": str(request_id),
        }
        secret = self._secrets.get(model.name)
        if model.kind == "anthropic":
            headers.setdefault("anthropic-version", ANTHROPIC_VERSION)
            if secret:
                headers["x-api-key"] = secret
        elif secret:
            headers["authorization"] = f"Bearer {secret}"
        return httpx.Request(
            "POST", self._url(f"{model.base_url}{path}"), content=body, headers=headers,
            extensions=self._extensions,
        )  # fmt: skip

    def _url(self, url: str) -> httpx.URL:
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = self._urls[url] = httpx.URL(url)
        return parsed

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Send and return once the headers are in (read the body with ``read`` or by
        iterating); UpstreamTimeout (504) or UpstreamUnavailable (502) when that fails."""
        demo = request.url.host == self._demo_host
        transport = self._demo if demo else self._transport
        try:
            return await transport.handle_async_request(request)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("The model's server did not answer in time.") from exc
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(
                f"The model's server could not be reached ({type(exc).__name__})."
            ) from exc

    async def read(self, response: httpx.Response) -> bytes:
        """A whole answer's body; UpstreamTimeout or UpstreamUnavailable if that fails."""
        try:
            return await response.aread()
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("The model's server did not finish its answer in time.") from exc
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(
                f"The model's server broke off its answer ({type(exc).__name__})."
            ) from exc

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._transport.aclose()
        await self._demo.aclose()
