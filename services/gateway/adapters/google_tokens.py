"""Short-lived Google access tokens for Vertex AI models, from a service account's key file.

google-auth signs a JWT with the account's private key and trades it at the key file's
``token_uri`` for an access token (an hour, at Google). A background task fetches the first
token at start-up and each next one *ahead* of expiry, so a request waits on Google only when
the token really is (nearly) expired: at start-up before the first token came, or after
Google could not be reached for longer than the margin. Tokens, the signed grant and the key
never go into a log line, an error, a metric or an event: failures are logged by type only.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

import httpx
import requests
import structlog
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2 import service_account

from infra.supervise import Backoff
from services.gateway.domain.pricing import ModelsConfigError
from services.gateway.errors import UpstreamUnavailable

log = structlog.get_logger(__name__)

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
# Ask for the next token this long before expiry (at most half the token's life) ...
AHEAD_SECONDS = 300.0
# ... and never send one with less than this left (at most a tenth of its life): it would
# expire on the way.
STALE_SECONDS = 30.0
FETCH_TIMEOUT_SECONDS = 10.0
# An httpx request's extension naming the token source its Authorization comes from.
EXTENSION = "aischool.google_tokens"


class _TimedRequest(GoogleRequest):
    """google-auth's transport with our time-out (its own default is 120 s), so a hanging
    Google does not keep a worker thread, or the gateway's shutdown, waiting."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", FETCH_TIMEOUT_SECONDS)
        return super().__call__(*args, **kwargs)  # type: ignore[no-untyped-call]


class AccessTokens:
    """The current access token of one service account, refreshed ahead of expiry."""

    def __init__(
        self, credentials: service_account.Credentials, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._credentials = credentials
        self._session = requests.Session()
        self._clock = clock
        self._token: str | None = None
        self._expires_at = self._refresh_at = 0.0
        self._pending: asyncio.Task[None] | None = None
        # google-auth's DEBUG request log shows the signed grant (a credential for an hour).
        logging.getLogger("google").setLevel(logging.INFO)

    @classmethod
    def load(cls, model: str, credentials_file: str) -> AccessTokens:
        """The source for a key file; ModelsConfigError (naming no secret) if unusable."""
        try:
            credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                credentials_file, scopes=SCOPES
            )
        except (OSError, ValueError) as exc:
            # google-auth's ValueError names missing fields; never the key itself.
            reason = exc.strerror if isinstance(exc, OSError) else "not a service account key"
            raise ModelsConfigError(
                f"models.{model}.credentials_file {credentials_file}: {reason}"
            ) from None
        return cls(credentials)

    async def token(self) -> str:
        """A token with more than the stale margin left; fetched now only if there is none."""
        if self._token is None or self._clock() >= self._expires_at:
            await self._fetch_once()
        assert self._token is not None
        return self._token

    async def run(self) -> None:
        """Fetch ahead of expiry for ever; after a failure retry with backoff (logged)."""
        backoff = Backoff(initial=1.0, maximum=60.0)
        while True:
            delay = self._refresh_at - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await self._fetch_once()
                backoff.reset()
            except UpstreamUnavailable:
                await asyncio.sleep(backoff.next())

    async def _fetch_once(self) -> None:
        """Join the fetch in progress or start one: the requests that found the token
        expired share one fetch and its outcome (a failure fails them all at once, rather
        than each trying Google again in turn)."""
        if self._pending is None or self._pending.done():
            self._pending = asyncio.ensure_future(self._fetch())
        await asyncio.shield(self._pending)  # a client that leaves does not cancel it

    async def _fetch(self) -> None:
        try:
            async with asyncio.timeout(FETCH_TIMEOUT_SECONDS):
                await asyncio.to_thread(self._refresh)
        except Exception as exc:  # the message may quote Google's answer: log the type only
            log.warning("google_token_failed", error=type(exc).__name__)
            raise UpstreamUnavailable(
                f"No access token from Google for this model ({type(exc).__name__})."
            ) from None

    def _refresh(self) -> None:
        """In a worker thread (google-auth is synchronous); one at a time (_fetch_once)."""
        started = self._clock()
        self._credentials.refresh(_TimedRequest(self._session))  # type: ignore[no-untyped-call]
        expiry: datetime.datetime | None = self._credentials.expiry
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)  # google-auth: naive
        life = max(0.0, (expiry - now).total_seconds()) if expiry else AHEAD_SECONDS * 2
        self._token = str(self._credentials.token)
        self._expires_at = started + life - min(STALE_SECONDS, life / 10)
        self._refresh_at = started + life - min(AHEAD_SECONDS, life / 2)

    def close(self) -> None:
        """Close the HTTP session to the token endpoint."""
        self._session.close()


class GoogleAuth(httpx.Auth):
    """Puts the access token on requests that name a token source in their extensions;
    every other request goes out as built."""

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        source = request.extensions.get(EXTENSION)
        if isinstance(source, AccessTokens):
            request.headers["authorization"] = f"Bearer {await source.token()}"
        yield request
