"""The fake upstream's cloud doors: Azure OpenAI, Vertex AI and Google's token endpoint.

Each door refuses a request without what that cloud requires, as the cloud would: Azure an
``api-key`` header (and no ``Authorization``), ``api-version`` on deployment URLs and not on
``/openai/v1``; Vertex a Bearer token that this fake's token endpoint issued and that has not
expired; Claude on Vertex the model in the URL, ``anthropic_version`` in the body and the
stream method matching the body. The token endpoint checks the signed JWT grant against the
service account's public key, as Google does, and issues tokens that expire.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from tests.fakes.upstream import FakeUpstream

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth signs its grants for Google's token endpoint, wherever token_uri points.
AUDIENCE = "https://oauth2.googleapis.com/token"
VERTEX = "/v1/projects/{project}/locations/{location}"
Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class FakeGoogle:
    """Google's OAuth token endpoint for one service account."""

    public_pem: bytes = b""
    lifetime_seconds: int = 3600
    failing: bool = False
    # Set to hold every token request until released (a slow Google).
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    waiting: int = 0
    # (token, issued at, expires at), wall clock
    issued: list[tuple[str, float, float]] = field(default_factory=list)
    grants: list[str] = field(default_factory=list)

    def valid(self, token: str) -> bool:
        return any(t == token and time.time() < end for t, _, end in self.issued)

    def issue(self, form: dict[str, str]) -> Response:
        """Check the grant as Google does, then answer with a new token."""
        if self.held.is_set():
            self.waiting += 1
            self.release.wait(30)
            self.waiting -= 1
        if self.failing:
            return JSONResponse({"error": "internal_failure"}, 503)
        assertion = form.get("assertion", "")
        self.grants.append(assertion)
        try:
            claims = jwt.decode(assertion, certs=self.public_pem, audience=AUDIENCE)  # type: ignore[no-untyped-call]
        except ValueError:
            return JSONResponse({"error": "invalid_grant"}, 400)
        if form.get("grant_type") != JWT_BEARER or "cloud-platform" not in claims.get("scope", ""):
            return JSONResponse({"error": "invalid_scope"}, 400)
        token = f"ya29.fake-{uuid.uuid4().hex}"
        now = time.time()
        self.issued.append((token, now, now + self.lifetime_seconds))
        answer = {"access_token": token, "expires_in": self.lifetime_seconds}
        return JSONResponse({**answer, "token_type": "Bearer"})


def write_service_account(path: Path, token_uri: str) -> tuple[bytes, bytes]:
    """A new RSA service account key file at ``path``; (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    account = {
        "type": "service_account",
        "project_id": "school-project",
        "private_key_id": uuid.uuid4().hex,
        "private_key": private.decode(),
        "client_email": "gateway@school-project.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": token_uri,
    }
    path.write_text(json.dumps(account))
    return private, public


def _refused(status: int, message: str) -> Response:
    return JSONResponse({"error": {"code": str(status), "message": message}}, status)


def cloud_routes(fake: FakeUpstream) -> list[Route]:
    """The routes of each cloud, in front of the fake's own handlers."""

    def azure(handler: Handler, versioned: bool) -> Handler:
        async def door(request: Request) -> Response:
            if request.headers.get("api-key") != fake.azure_key:
                return _refused(401, "Access denied due to invalid subscription key.")
            if "authorization" in request.headers:
                return _refused(401, "Bearer tokens are Entra ID tokens here.")
            if ("api-version" in request.query_params) != versioned:
                return _refused(404, "Resource not found")
            return await handler(request)

        return door

    def vertex(handler: Handler) -> Handler:
        async def door(request: Request) -> Response:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme != "Bearer" or not fake.google.valid(token):
                return _refused(401, "Request had invalid authentication credentials.")
            return await handler(request)

        return door

    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        return await _in_thread(lambda: fake.google.issue(form))

    async def claude(request: Request) -> Response:
        model, _, method = request.path_params["call"].partition(":")
        body: dict[str, Any] = await request.json()
        if model == "count-tokens":
            return await fake._count_tokens(request)
        streams = method == "streamRawPredict"
        if "model" in body or body.get("anthropic_version") != "vertex-2023-10-16":
            return _refused(400, "model belongs in the URL, anthropic_version in the body")
        if method not in ("rawPredict", "streamRawPredict") or streams != bool(body.get("stream")):
            return _refused(400, f"{method} does not match the body's stream flag")
        fake.vertex_models.append(model)
        return await fake._messages(request)

    deployments = "/openai/deployments/{deployment}"
    return [
        Route(f"{deployments}/chat/completions", azure(fake._chat, True), methods=["POST"]),
        Route(f"{deployments}/embeddings", azure(fake._embeddings, True), methods=["POST"]),
        Route("/openai/responses", azure(fake._responses, True), methods=["POST"]),
        Route("/openai/v1/chat/completions", azure(fake._chat, False), methods=["POST"]),
        Route("/openai/v1/responses", azure(fake._responses, False), methods=["POST"]),
        Route(f"{VERTEX}/endpoints/openapi/chat/completions", vertex(fake._chat), methods=["POST"]),
        Route(f"{VERTEX}/publishers/anthropic/models/{{call}}", vertex(claude), methods=["POST"]),
        Route("/token", token, methods=["POST"]),
    ]


async def _in_thread(issue: Callable[[], Response]) -> Response:
    """The token endpoint may be held: keep the fake's event loop free meanwhile."""
    return await asyncio.to_thread(issue)
