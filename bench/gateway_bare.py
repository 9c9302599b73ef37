"""The floor of the gateway's own HTTP stack: a pass-through with nothing of the gateway's work.

Same server (``infra.serve.run``: uvicorn with the gateway's settings and logging), same
framework (a FastAPI app with a plain route, as ``services/gateway/api.py`` adds its ``/v1``
routes), same client (``services.gateway.upstream.Upstream``: httpx on aiohttp's engine,
the same pool): no key, no admission, no metering, the body forwarded as it came, a stream
relayed as it arrives. ``bench/gateway_floor.py`` runs it beside the gateway.

    AISCHOOL_MODELS_FILE=models.toml ... .venv/bin/python -m bench.gateway_bare
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from infra.serve import run
from services.gateway.api import install_direct_routes
from services.gateway.app import NO_TELEMETRY, load_models
from services.gateway.request_log import quiet_per_request_loggers
from services.gateway.settings import GatewaySettings
from services.gateway.upstream import Upstream

PATH = "/chat/completions"


def create_bare_app(settings: GatewaySettings) -> FastAPI:
    """``POST /v1/chat/completions`` forwarded to the models file's first model."""
    models = load_models(settings)
    model = next(iter(models.values()))
    upstream: Upstream | None = None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal upstream
        quiet_per_request_loggers()  # as the gateway does
        upstream = Upstream(models, settings.upstream_timeout_seconds)
        yield
        await upstream.aclose()

    async def forward(request: Request) -> Response:
        assert upstream is not None
        body = await request.body()
        outgoing = upstream.build(model, PATH, body, uuid.uuid4())
        answer = await upstream.send(outgoing)
        media_type = answer.headers.get("content-type", "application/json")
        if media_type.startswith("text/event-stream"):
            close = BackgroundTask(answer.aclose)
            return StreamingResponse(answer.aiter_bytes(), media_type=media_type, background=close)
        try:
            content = await upstream.read(answer)
        finally:
            await answer.aclose()
        return Response(content, answer.status_code, media_type=media_type)

    app = FastAPI(title="bare pass-through", lifespan=lifespan, telemetry=NO_TELEMETRY)
    app.add_route(f"/v1{PATH}", forward, methods=["POST"])
    install_direct_routes(app)  # as the gateway serves its /v1 POSTs
    return app


def main() -> None:
    settings = GatewaySettings()  # from AISCHOOL_* variables
    run(create_bare_app(settings), settings)


if __name__ == "__main__":
    main()
