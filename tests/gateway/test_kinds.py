"""The models file's kinds of upstream: their URLs and the fields each kind needs. Pure."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from services.gateway.adapters.google_tokens import AccessTokens
from services.gateway.domain.kinds import upstream_url, vertex_anthropic_request
from services.gateway.domain.pricing import ModelsConfigError, parse_models
from services.gateway.errors import ModelNotFound

PRICES = "input_usd_per_million = 1\noutput_usd_per_million = 2\n"
VERTEX = 'project = "p"\nlocation = "{location}"\ncredentials_file = "/etc/sa.json"\n'


def model(kind: str, fields: str) -> object:
    return parse_models(f'[models.m]\nkind = "{kind}"\n{fields}{PRICES}')["m"]


def test_azure_with_an_api_version_uses_deployment_urls() -> None:
    azure = parse_models(
        '[models.m]\nkind = "azure"\nbase_url = "https://r.openai.azure.com/"\n'
        f'upstream_model = "prod gpt"\napi_version = "2024-10-21"\n{PRICES}'
    )["m"]
    query = "?api-version=2024-10-21"
    base = "https://r.openai.azure.com/openai"
    assert upstream_url(azure, "/chat/completions") == (
        f"{base}/deployments/prod%20gpt/chat/completions{query}"
    )
    assert upstream_url(azure, "/embeddings") == f"{base}/deployments/prod%20gpt/embeddings{query}"
    assert upstream_url(azure, "/responses") == f"{base}/responses{query}"


def test_azure_without_an_api_version_uses_the_v1_api() -> None:
    azure = parse_models(
        f'[models.m]\nkind = "azure"\nbase_url = "https://r.openai.azure.com"\n{PRICES}'
    )["m"]
    assert upstream_url(azure, "/responses") == "https://r.openai.azure.com/openai/v1/responses"


@pytest.mark.parametrize(
    ("location", "host"),
    [("europe-west4", "https://europe-west4-aiplatform.googleapis.com"),
     ("global", "https://aiplatform.googleapis.com")],
)  # fmt: skip
def test_vertex_urls_default_to_googles_regional_host(location: str, host: str) -> None:
    models = parse_models(
        f'[models.g]\nkind = "vertex"\n{VERTEX.format(location=location)}{PRICES}'
        f'[models.c]\nkind = "vertex-anthropic"\nupstream_model = "claude-x@1"\n'
        f"{VERTEX.format(location=location)}{PRICES}"
    )
    root = f"{host}/v1/projects/p/locations/{location}"
    assert upstream_url(models["g"], "/chat/completions") == (
        f"{root}/endpoints/openapi/chat/completions"
    )
    assert (
        upstream_url(models["c"], "/messages") == f"{root}/publishers/anthropic/models/claude-x@1"
    )
    with pytest.raises(ModelNotFound, match="chat completions only"):
        upstream_url(models["g"], "/embeddings")


def test_claude_on_vertex_moves_the_model_to_the_url_and_picks_the_stream_method() -> None:
    body = orjson.dumps({"model": "claude-x@1", "max_tokens": 5, "stream": True, "messages": []})
    url, sent = vertex_anthropic_request("https://h/models/claude-x@1", "/messages", body)
    assert url == "https://h/models/claude-x@1:streamRawPredict"
    assert orjson.loads(sent) == {
        "max_tokens": 5,
        "stream": True,
        "messages": [],
        "anthropic_version": "vertex-2023-10-16",
    }
    whole = orjson.dumps({"model": "claude-x@1", "max_tokens": 5, "messages": []})
    assert vertex_anthropic_request("u", "/messages", whole)[0] == "u:rawPredict"


@pytest.mark.parametrize(
    ("kind", "fields", "message"),
    [("vertex", 'location = "l"\ncredentials_file = "f"\n', 'models.m (kind vertex) needs project'),
     ("vertex", 'project = "p"\nlocation = ""\ncredentials_file = "f"\n', "needs location"),
     ("vertex-anthropic", 'project = "p"\nlocation = "l"\n', "needs credentials_file"),
     ("azure", "", "needs base_url"),
     ("azure", 'base_url = "https://r"\napi_version = 2024\n', "needs api_version"),
     ("bedrock", 'base_url = "https://r"\n', "kind must be one of anthropic, azure, openai")],
)  # fmt: skip
def test_a_kind_without_its_fields_names_them(kind: str, fields: str, message: str) -> None:
    with pytest.raises(ModelsConfigError, match=re.escape(message)):
        model(kind, fields)


def test_an_unusable_key_file_is_named_without_its_content(tmp_path: Path) -> None:
    broken = tmp_path / "sa.json"
    broken.write_text('{"type": "service_account", "private_key": "SECRET-KEY-MATERIAL"}')
    with pytest.raises(ModelsConfigError) as raised:
        AccessTokens.load("gemini", str(broken))
    assert "models.gemini.credentials_file" in str(raised.value)
    assert "SECRET" not in str(raised.value) and raised.value.__cause__ is None
    with pytest.raises(ModelsConfigError, match="No such file"):
        AccessTokens.load("gemini", str(tmp_path / "missing.json"))
