"""Models, their upstreams and prices, from a TOML file or the built-in ``demo``. Pure."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from contracts.money import round_up_micro, token_cost_micro
from services.gateway.domain.kinds import KINDS, Cloud, ModelsFieldError, cloud_fields

DEMO_BASE_URL = "http://demo.gateway.internal/v1"
# The built-in demo answers every API; the other kinds are in kinds.py.
DEMO_KIND = "demo"


class ModelsConfigError(ValueError):
    """The models file is not valid; the message names the model and field."""


@dataclass(frozen=True)
class Usage:
    """Tokens of one request as the upstream reported them (or as we estimated them)."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    estimated: bool = False
    # Prompt tokens written to the upstream's cache (Anthropic), part of prompt_tokens.
    cache_write_tokens: int = 0


@dataclass(frozen=True)
class Model:
    """A public model name and where and at what price it is served."""

    name: str
    base_url: str
    upstream_model: str
    api_key_env: str | None
    input_usd_per_million: Decimal
    cached_input_usd_per_million: Decimal
    output_usd_per_million: Decimal
    context_tokens: int
    max_output_tokens: int
    kind: str = "openai"
    cache_write_usd_per_million: Decimal | None = None  # None: the input price
    cloud: Cloud = field(default_factory=Cloud)  # Azure's and Vertex's own fields

    def cost_micro(self, usage: Usage) -> int:
        """Exact cost in micro-USD, rounded up to a whole micro-dollar."""
        cached = min(usage.cached_tokens, usage.prompt_tokens)
        written = min(usage.cache_write_tokens, usage.prompt_tokens - cached)
        write_price = self.cache_write_usd_per_million
        exact = (
            token_cost_micro(usage.prompt_tokens - cached - written, self.input_usd_per_million)
            + token_cost_micro(cached, self.cached_input_usd_per_million)
            + token_cost_micro(written, write_price or self.input_usd_per_million)
            + token_cost_micro(usage.completion_tokens, self.output_usd_per_million)
        )
        return round_up_micro(exact)

    def output_cap(self, requested: int | None) -> int:
        """The most output tokens a request can produce: its max_tokens, at most our limit."""
        if requested is None or requested <= 0:
            return self.max_output_tokens
        return min(requested, self.max_output_tokens)

    def max_cost_micro(self, prompt_tokens: int, max_output: int) -> int:
        """What a request can cost at most: its prompt at the dearest prompt price (cache
        writes may cost more than plain input) plus its output cap."""
        prompt = min(prompt_tokens, self.context_tokens)
        write_price = self.cache_write_usd_per_million or self.input_usd_per_million
        written = prompt if write_price > self.input_usd_per_million else 0
        return self.cost_micro(Usage(prompt, max_output, cache_write_tokens=written))

    def affordable_output(
        self, prompt_tokens: int, budget_micro: int, answers: int, most: int
    ) -> int:
        """The most output tokens per answer, at most ``most``, that ``budget_micro`` pays
        for after the prompt, for ``answers`` answers (0 when not even one token fits)."""
        spare = budget_micro - self.max_cost_micro(prompt_tokens, 0)
        if answers <= 0 or spare <= 0:
            return 0
        per_answer_token = self.output_usd_per_million * answers  # micro-USD per token
        tokens = most if per_answer_token == 0 else min(most, int(spare / per_answer_token))
        # Rounding up to whole micro-dollars may cost one token more than the division said.
        while tokens > 0 and self.max_cost_micro(prompt_tokens, tokens * answers) > budget_micro:
            tokens -= 1
        return tokens


def demo_model() -> Model:
    """The built-in model answered in-process, so the flow works with no LLM at all."""
    return Model(
        name="demo",
        base_url=DEMO_BASE_URL,
        upstream_model="demo",
        api_key_env=None,
        input_usd_per_million=Decimal("1.00"),
        cached_input_usd_per_million=Decimal("0.10"),
        output_usd_per_million=Decimal("4.00"),
        context_tokens=128_000,
        max_output_tokens=4_096,
        kind=DEMO_KIND,
    )


def parse_models(text: str) -> dict[str, Model]:
    """Models from the TOML text of a models file (``[models.<public name>]`` tables)."""
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise ModelsConfigError(f"models file is not valid TOML: {exc}") from exc
    tables = data.get("models")
    if not isinstance(tables, dict) or not tables:
        raise ModelsConfigError("models file has no [models.<name>] table")
    return {name: _model(name, table) for name, table in tables.items()}


def _model(name: str, table: Any) -> Model:
    if not isinstance(table, dict):
        raise ModelsConfigError(f"models.{name} must be a table")
    kind = _kind(name, table)
    try:
        base_url, cloud = cloud_fields(kind, table)
    except ModelsFieldError as exc:
        raise ModelsConfigError(f"models.{name} (kind {kind}) needs {exc.args[0]}") from exc
    try:
        return Model(
            name=name,
            base_url=base_url,
            upstream_model=str(table.get("upstream_model", name)),
            api_key_env=table.get("api_key_env"),
            input_usd_per_million=_price(name, table, "input_usd_per_million"),
            cached_input_usd_per_million=_price(
                name, table, "cached_input_usd_per_million", table["input_usd_per_million"]
            ),
            output_usd_per_million=_price(name, table, "output_usd_per_million"),
            context_tokens=int(table.get("context_tokens", 128_000)),
            max_output_tokens=int(table.get("max_output_tokens", 16_384)),
            kind=kind,
            cache_write_usd_per_million=_price(
                name, table, "cache_write_usd_per_million", table["input_usd_per_million"]
            ),
            cloud=cloud,
        )
    except KeyError as exc:
        raise ModelsConfigError(f"models.{name} needs {exc.args[0]}") from exc


def _kind(name: str, table: dict[str, Any]) -> str:
    kind = table.get("kind", "openai")
    if not isinstance(kind, str) or kind not in KINDS:
        known = ", ".join(sorted(KINDS))
        raise ModelsConfigError(f"models.{name}.kind must be one of {known}, not {kind!r}")
    return str(kind)


def _price(name: str, table: dict[str, Any], field: str, default: Any = None) -> Decimal:
    raw = table.get(field, default)
    try:
        price = Decimal(str(raw))
    except (InvalidOperation, ValueError) as exc:
        raise ModelsConfigError(f"models.{name}.{field} is not a number: {raw!r}") from exc
    if not price.is_finite() or price < 0:
        raise ModelsConfigError(f"models.{name}.{field} must be a price >= 0")
    return price


def usage_from(reported: object) -> Usage | None:
    """Usage from an upstream's ``usage`` object, or None when it has none."""
    if not isinstance(reported, dict):
        return None
    details = reported.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") if isinstance(details, dict) else 0
    return Usage(
        prompt_tokens=_count(reported.get("prompt_tokens")),
        completion_tokens=_count(reported.get("completion_tokens")),
        cached_tokens=_count(cached),
    )


def _count(value: object) -> int:
    return value if isinstance(value, int) and value > 0 else 0
