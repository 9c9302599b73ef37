"""Kinds of upstream: where each is reached for an API path and what its models file needs.

- ``openai``: ``{base_url}{path}``, ``Authorization: Bearer``.
- ``anthropic``: ``{base_url}/messages``, ``x-api-key``.
- ``azure`` (Azure OpenAI): ``api-key`` header. With ``api_version``, the deployment URLs
  ``{base_url}/openai/deployments/{deployment}{path}?api-version=...`` (``upstream_model`` is
  the deployment); without it, Azure's v1 API ``{base_url}/openai/v1{path}``.
- ``vertex`` (Gemini on Vertex AI): the OpenAI-compatible chat completions of
  ``.../v1/projects/{project}/locations/{location}/endpoints/openapi``, a Google access token.
- ``vertex-anthropic`` (Claude on Vertex AI): ``...:rawPredict`` / ``:streamRawPredict`` of
  ``.../publishers/anthropic/models/{model}``, the model in the URL, not the body. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from services.gateway.errors import ModelNotFound

if TYPE_CHECKING:
    from services.gateway.domain.pricing import Model

AZURE, VERTEX, VERTEX_ANTHROPIC = "azure", "vertex", "vertex-anthropic"
# The kinds that speak OpenAI's wire format, and those that speak Anthropic's.
OPENAI_WIRE = frozenset({"openai", AZURE, VERTEX})
ANTHROPIC_WIRE = frozenset({"anthropic", VERTEX_ANTHROPIC})
KINDS = OPENAI_WIRE | ANTHROPIC_WIRE
GOOGLE = frozenset({VERTEX, VERTEX_ANTHROPIC})
# What Claude on Vertex wants in the body instead of an ``anthropic-version`` header.
VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"
# Vertex's OpenAI-compatible endpoint serves chat completions only.
VERTEX_PATHS = frozenset({"/chat/completions"})
AZURE_DEPLOYMENT_PATHS = frozenset({"/chat/completions", "/completions", "/embeddings"})
ANTHROPIC_COUNT_PATH = "/messages/count_tokens"


class ModelsFieldError(ValueError):
    """A kind's field is missing or wrong; the message names the field (not the model)."""


@dataclass(frozen=True)
class Cloud:
    """The kind-specific fields of a model: Azure's API version, Vertex's project."""

    api_version: str | None = None
    project: str | None = None
    location: str | None = None
    # A Google service account's JSON key file; the file is the secret, not its path.
    credentials_file: str | None = None


def cloud_fields(kind: str, table: dict[str, Any]) -> tuple[str, Cloud]:
    """The base URL and the kind's fields of a model's table; ModelsFieldError if wrong."""
    if kind in GOOGLE:
        project, location = _text(table, "project"), _text(table, "location")
        cloud = Cloud(
            project=project, location=location, credentials_file=_text(table, "credentials_file")
        )
        host = "aiplatform.googleapis.com"
        default = f"https://{host if location == 'global' else f'{location}-{host}'}"
        return str(table.get("base_url", default)).rstrip("/"), cloud
    if "base_url" not in table:
        raise ModelsFieldError("base_url")
    version = table.get("api_version") if kind == AZURE else None
    cloud = Cloud(api_version=None if version is None else _text(table, "api_version"))
    return str(table["base_url"]).rstrip("/"), cloud


def _text(table: dict[str, Any], field: str) -> str:
    value = table.get(field)
    if not isinstance(value, str) or not value.strip():
        raise ModelsFieldError(field)
    return value.strip()


def upstream_url(model: Model, path: str) -> str:
    """The URL of ``path`` (``/chat/completions``, ``/messages``, ...) at the model's
    upstream; ModelNotFound when that kind of upstream does not serve the path."""
    if model.kind == AZURE:
        return _azure_url(model, path)
    if model.kind == VERTEX:
        if path not in VERTEX_PATHS:
            raise _not_served(model, "chat completions")
        return f"{_vertex_root(model)}/endpoints/openapi{path}"
    if model.kind == VERTEX_ANTHROPIC:
        models = f"{_vertex_root(model)}/publishers/anthropic/models"
        if path == ANTHROPIC_COUNT_PATH:
            return f"{models}/count-tokens:rawPredict"
        return f"{models}/{quote(model.upstream_model, safe='@')}"
    return f"{model.base_url}{path}"


def _azure_url(model: Model, path: str) -> str:
    version = model.cloud.api_version
    if version is None:
        return f"{model.base_url}/openai/v1{path}"
    query = f"?api-version={quote(version)}"
    if path == "/responses":  # not per deployment: the deployment is the body's model
        return f"{model.base_url}/openai/responses{query}"
    if path not in AZURE_DEPLOYMENT_PATHS:
        raise _not_served(model, "chat completions, completions, embeddings and responses")
    deployment = quote(model.upstream_model, safe="")
    return f"{model.base_url}/openai/deployments/{deployment}{path}{query}"


def _vertex_root(model: Model) -> str:
    cloud = model.cloud
    project, location = quote(str(cloud.project), safe=""), quote(str(cloud.location), safe="")
    return f"{model.base_url}/v1/projects/{project}/locations/{location}"


def _not_served(model: Model, what: str) -> ModelNotFound:
    return ModelNotFound(f"The model `{model.name}` is served through {what} only here.")


def vertex_anthropic_request(url: str, path: str, content: bytes) -> tuple[str, bytes]:
    """Claude on Vertex: the model is in the URL, the API version in the body, and a
    stream has its own method, so the body is rewritten (for this kind only)."""
    if path == ANTHROPIC_COUNT_PATH:
        return url, content
    body: dict[str, Any] = orjson.loads(content)  # an object: the dialect checked it
    body.pop("model", None)
    body.setdefault("anthropic_version", VERTEX_ANTHROPIC_VERSION)
    method = ":streamRawPredict" if body.get("stream") is True else ":rawPredict"
    return url + method, orjson.dumps(body)
