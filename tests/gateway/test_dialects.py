"""Pure rules of the Responses and Messages dialects: prices, caps, usage from events."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.gateway.domain import anthropic, responses
from services.gateway.domain.pricing import ModelsConfigError, Usage, demo_model, parse_models
from services.gateway.errors import ModelNotFound

MODELS = """
[models.claude]
kind = "anthropic"
base_url = "http://upstream/v1"
input_usd_per_million = 3
cached_input_usd_per_million = "0.30"
cache_write_usd_per_million = "3.75"
output_usd_per_million = 15
max_output_tokens = 100

[models.gpt]
base_url = "http://upstream/v1"
input_usd_per_million = 1
output_usd_per_million = 4
"""


def test_cache_reads_and_writes_are_priced_apart_and_rounded_up() -> None:
    claude = parse_models(MODELS)["claude"]
    usage = Usage(
        prompt_tokens=1000, completion_tokens=10, cached_tokens=600, cache_write_tokens=300
    )
    # 100 x 3 + 600 x 0.30 + 300 x 3.75 + 10 x 15 = 300 + 180 + 1125 + 150
    assert claude.cost_micro(usage) == 1755
    assert claude.cache_write_usd_per_million == Decimal("3.75")
    assert parse_models(MODELS)["gpt"].kind == "openai"


def test_a_reservation_covers_a_prompt_written_whole_to_the_cache() -> None:
    claude = parse_models(MODELS)["claude"]
    written = claude.cost_micro(Usage(1000, 50, cache_write_tokens=1000))
    assert claude.max_cost_micro(1000, 50) >= written > claude.cost_micro(Usage(1000, 50))


def test_an_unknown_upstream_kind_stops_start_up_naming_the_model() -> None:
    with pytest.raises(ModelsConfigError, match=r"models\.x\.kind"):
        parse_models(
            MODELS + '[models.x]\nkind = "bedrock"\nbase_url = "u"\n'
            "input_usd_per_million = 1\noutput_usd_per_million = 1\n"
        )


def test_each_api_serves_only_models_whose_upstream_speaks_it() -> None:
    models = parse_models(MODELS)
    anthropic.MESSAGES.check(models["claude"])
    responses.RESPONSES.check(models["gpt"])
    for dialect in (anthropic.MESSAGES, responses.RESPONSES):
        dialect.check(demo_model())
    with pytest.raises(ModelNotFound, match="Messages API"):
        anthropic.MESSAGES.check(models["gpt"])
    with pytest.raises(ModelNotFound, match="Responses API"):
        responses.RESPONSES.check(models["claude"])


def test_a_message_stream_is_billed_from_message_start_and_the_last_message_delta() -> None:
    start = {
        "type": "message_start",
        "message": {
            "usage": {
                "input_tokens": 5,
                "cache_read_input_tokens": 7,
                "cache_creation_input_tokens": 11,
                "output_tokens": 1,
            }
        },
    }
    seen = anthropic.chunk_usage(start, None)
    assert seen == Usage(23, 0, 7, estimated=True, cache_write_tokens=11)
    delta = {"type": "message_delta", "usage": {"output_tokens": 40}}
    assert anthropic.chunk_usage(delta, seen) == Usage(23, 40, 7, cache_write_tokens=11)
    assert anthropic.chunk_usage({"type": "ping"}, seen) is None


def test_the_output_cap_is_lowered_or_added_in_each_api_s_own_field() -> None:
    models = parse_models(MODELS)
    body, raw = {"model": "claude", "max_tokens": 500, "messages": []}, b"{}"
    sent, wants_usage = anthropic.prepare(raw, body, models["claude"], 20)
    assert b'"max_tokens":20' in sent and wants_usage
    body = {"model": "gpt", "input": "hi"}
    sent, _ = responses.prepare(raw, body, models["gpt"], 30)
    assert b'"max_output_tokens":30' in sent and b'max_tokens"' not in sent
