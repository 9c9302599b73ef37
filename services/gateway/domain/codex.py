"""The Codex CLI config that points Codex at this gateway. Pure.

Codex's built-in ``openai`` provider wants an OpenAI login and tries a WebSocket first, so the
config defines its own provider (as the OpenCode config does): the Responses API at this
gateway, the key from ``OPENAI_API_KEY`` in the student's shell. The file goes in a
``CODEX_HOME`` of its own (the key sheet says ``~/.aischool``), leaving ``~/.codex`` alone.
"""

from __future__ import annotations

PROVIDER_ID = "aischool"


def codex_config(base_url: str) -> str:
    """A ``config.toml`` with one provider; ``base_url`` passed ``public_base_url``'s checks
    (a scheme and a host name), so it needs no TOML escaping."""
    return (
        "# Codex CLI for AI-School Coding: save as $CODEX_HOME/config.toml\n"
        f'model_provider = "{PROVIDER_ID}"\n\n'
        f"[model_providers.{PROVIDER_ID}]\n"
        'name = "AI-School Coding"\n'
        f'base_url = "{base_url}"\n'
        'env_key = "OPENAI_API_KEY"\n'
        'wire_api = "responses"\n'
    )
