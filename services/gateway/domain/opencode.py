"""The OpenCode config that points OpenCode at this gateway. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from services.gateway.domain.pricing import Model
from services.gateway.errors import BadRequest

PROVIDER_ID = "aischool"
# OpenCode replaces {env:NAME} with the variable when it loads the config, so the key
# stays in the student's shell and this document holds no secret.
API_KEY_REFERENCE = "{env:OPENAI_API_KEY}"
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def _first(value: str | None) -> str | None:
    """The client-facing entry of a forwarded header (proxies append theirs after it)."""
    if value is None:
        return None
    return value.split(",")[0].strip()


def public_base_url(
    scheme: str, host: str, forwarded_proto: str | None, forwarded_host: str | None
) -> str:
    """The ``/v1`` URL as the client reached it, trusting ``X-Forwarded-Proto``/``-Host``."""
    scheme = _first(forwarded_proto) or scheme
    host = _first(forwarded_host) or host
    if scheme not in ("http", "https"):
        raise BadRequest("X-Forwarded-Proto: must be http or https")
    if not _HOST.fullmatch(host):
        raise BadRequest("X-Forwarded-Host: must be a host name or address, with an optional port")
    return f"{scheme}://{host}/v1"


def opencode_config(base_url: str, models: Iterable[Model]) -> dict[str, Any]:
    """An ``opencode.json`` with one OpenAI-compatible provider serving ``models``."""
    entries = {
        model.name: {
            "name": model.name,
            "limit": {"context": model.context_tokens, "output": model.max_output_tokens},
        }
        for model in models
    }
    provider = {
        "npm": "@ai-sdk/openai-compatible",
        "name": "AI-School Coding",
        "options": {"baseURL": base_url, "apiKey": API_KEY_REFERENCE},
        "models": entries,
    }
    return {"$schema": "https://opencode.ai/config.json", "provider": {PROVIDER_ID: provider}}
