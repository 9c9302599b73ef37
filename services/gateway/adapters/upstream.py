"""The hop to the models' servers: one httpx client, the transport chosen in one line.

The upstream's API key is read from the environment once, put only on the outgoing request,
and never logged or returned: errors carry status and body of the upstream, not our request.
Each kind of upstream (``kinds.py``) has its URLs and its way of saying who we are; Vertex
AI's access tokens come from ``google_tokens.py``, put on the request by ``GoogleAuth``.

The request path builds an ``httpx.Request`` from a URL parsed once per model and path and
hands it straight to the transport: ``AsyncClient.send`` adds redirects, an auth flow and a
cookie jar, which cost about a quarter of a request's CPU (docs/benchmarks.md). Only the
requests that need the client go through it: a Google token to put on (``GoogleAuth``) or
the built-in demo model (in-process ASGI).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from urllib.parse import urlsplit
from uuid import UUID

import httpx
from aiohttp import ClientResponse
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import AiohttpResponseStream, map_aiohttp_exceptions

from services.gateway.adapters.demo import demo_app
from services.gateway.adapters.google_tokens import EXTENSION, AccessTokens, GoogleAuth
from services.gateway.domain.kinds import AZURE, GOOGLE, VERTEX_ANTHROPIC, upstream_url
from services.gateway.domain.kinds import vertex_anthropic_request as vertex_anthropic
from services.gateway.domain.pricing import DEMO_BASE_URL, Model
from services.gateway.errors import UpstreamTimeout, UpstreamUnavailable

ANTHROPIC_VERSION = "2023-06-01"
IDENTITY = ("identity", "")
# HTTP/1.1: every open stream holds a connection of its own, so the pool must admit as many
# as the gateway has students streaming at once (2 000 measured, docs/benchmarks.md).
POOL = httpx.Limits(max_connections=8192, max_keepalive_connections=512)


def make_transport() -> httpx.AsyncBaseTransport:
    """The upstream transport: aiohttp's engine under httpx's API (see docs/benchmarks.md)."""
    return AiohttpTransport(limits=POOL)  # plain httpx: httpx.AsyncHTTPTransport(limits=POOL)


def token_sources(models: Mapping[str, Model]) -> dict[str, AccessTokens]:
    """The token source of each Google model, one per service account key file."""
    by_file: dict[str, AccessTokens] = {}
    for model in models.values():
        path = model.cloud.credentials_file
        if model.kind in GOOGLE and path is not None and path not in by_file:
            by_file[path] = AccessTokens.load(model.name, path)
    return {
        name: by_file[str(model.cloud.credentials_file)]
        for name, model in models.items()
        if model.kind in GOOGLE
    }


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
        self._google = token_sources(models)
        self._refreshing: list[asyncio.Task[None]] = []
        demo_origin = "{0.scheme}://{0.netloc}".format(urlsplit(DEMO_BASE_URL))
        self._demo_host = urlsplit(DEMO_BASE_URL).hostname
        self._transport = make_transport()
        timeout = httpx.Timeout(timeout_seconds, connect=connect_timeout_seconds)
        self._client = httpx.AsyncClient(
            transport=self._transport,
            mounts={demo_origin: httpx.ASGITransport(demo_app())},
            timeout=timeout,
            auth=GoogleAuth(),
        )
        self._timeout = timeout.as_dict()
        self._urls: dict[str, httpx.URL] = {}

    def start(self) -> None:
        """Start fetching Google access tokens ahead of expiry (off the request path)."""
        sources = {id(source): source for source in self._google.values()}.values()
        self._refreshing = [asyncio.create_task(source.run()) for source in sources]

    def build(
        self,
        model: Model,
        path: str,
        body: bytes,
        request_id: UUID,
        passed: Mapping[str, str] | None = None,
    ) -> httpx.Request:
        """The upstream request for ``path`` (e.g. ``/chat/completions``) with our credentials
        (``x-api-key`` for an Anthropic upstream) and the client's ``passed`` headers;
        ModelNotFound when the model's kind of upstream does not serve ``path``."""
        url = upstream_url(model, path)
        if model.kind == VERTEX_ANTHROPIC:
            url, body = vertex_anthropic(url, path, body)
        headers = {
            **(passed or {}),
            "content-type": "application/json",
            "accept-encoding": "identity",
            "x-client-request-id": str(request_id),
        }
        secret = self._secrets.get(model.name)
        google = self._google.get(model.name)
        if model.kind == "anthropic":
            headers.setdefault("anthropic-version", ANTHROPIC_VERSION)
            if secret:
                headers["x-api-key"] = secret
        elif model.kind == AZURE and secret:
            headers["api-key"] = secret
        elif secret and google is None:
            headers["authorization"] = f"Bearer {secret}"
        extensions: dict[str, object] = {"timeout": self._timeout}
        if google is not None:
            extensions[EXTENSION] = google
        return httpx.Request(
            "POST", self._url(url), content=body, headers=headers, extensions=extensions
        )

    def _url(self, url: str) -> httpx.URL:
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = self._urls[url] = httpx.URL(url)
        return parsed

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Send and return once the headers are in (read the body with ``read`` or by
        iterating); UpstreamTimeout (504) or UpstreamUnavailable (502) when that fails."""
        through_client = EXTENSION in request.extensions or request.url.host == self._demo_host
        try:
            if through_client:
                return await self._client.send(request, stream=True)
            return await self._transport.handle_async_request(request)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("The model's server did not answer in time.") from exc
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(
                f"The model's server could not be reached ({type(exc).__name__})."
            ) from exc

    async def read(self, response: httpx.Response) -> bytes:
        """A whole answer's body; UpstreamTimeout or UpstreamUnavailable if that fails."""
        try:
            return await _read(response)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("The model's server did not finish its answer in time.") from exc
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(
                f"The model's server broke off its answer ({type(exc).__name__})."
            ) from exc

    def chunks(self, response: httpx.Response) -> AsyncIterator[bytes]:
        """A streamed answer's bytes as each read brings them (httpx's errors)."""
        raw = _aiohttp_of(response)
        if raw is None:
            return response.aiter_bytes()
        return _pieces(raw)

    async def aclose(self) -> None:
        """Stop the token refreshes and close every pooled connection."""
        for task in self._refreshing:
            task.cancel()
        await asyncio.gather(*self._refreshing, return_exceptions=True)
        for source in {id(s): s for s in self._google.values()}.values():
            source.close()
        await self._client.aclose()


def content_type(response: httpx.Response) -> str:
    """The answer's content type ("" if none), read from aiohttp's headers when it is theirs
    (httpx's ``Headers.get`` lower-cases and decodes every header on each call)."""
    raw = _aiohttp_of(response)
    if raw is not None:
        return raw.headers.get("content-type", "")
    return str(response.headers.get("content-type", ""))


# aiohttp under httpx: a whole body or a stream's pieces are read from aiohttp's response
# directly; httpx's layers (a byte stream, a decoder and a chunker per read) add nothing
# here, as the upstream is asked for ``identity`` encoding.


def _aiohttp_of(response: httpx.Response) -> ClientResponse | None:
    """aiohttp's response under an httpx one, unless httpx must decode its content."""
    stream = response.stream
    if isinstance(stream, AiohttpResponseStream):
        raw: ClientResponse = stream._aiohttp_response
        if raw.headers.get("content-encoding", "identity") in IDENTITY:
            return raw
    return None


async def _read(response: httpx.Response) -> bytes:
    raw = _aiohttp_of(response)
    if raw is None:
        return await response.aread()
    with map_aiohttp_exceptions():
        return await raw.read()


async def _pieces(raw: ClientResponse) -> AsyncIterator[bytes]:
    with map_aiohttp_exceptions():
        async for piece in raw.content.iter_any():
            yield piece
