"""The set-up lines a key sheet or letter prints for each coding tool. Pure.

In one place so that ``bench/coding_tools.py`` runs exactly what a card shows. The student
pastes the key after the first ``=``, runs the first two lines, then those of a tool. Left:
Aider and OpenCode (OpenAI API); right: Claude Code (Anthropic's Messages API) and Codex CLI
(the Responses API, through the provider in the gateway's ``codex.toml``, kept in a
``CODEX_HOME`` of its own).
"""

from __future__ import annotations

# Codex keeps its config, log-in and sessions here, apart from a student's own ~/.codex.
CODEX_HOME = "~/.aischool"


def setup_columns(base_url: str, model: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The two columns of lines for the gateway at ``base_url`` (``https://host/v1``)."""
    openai = (
        "export OPENAI_API_KEY=",
        f"export OPENAI_API_BASE={base_url}",
        f"aider --model openai/{model}",
        "curl -so oc.json $OPENAI_API_BASE/opencode.json",
        f"OPENCODE_CONFIG=oc.json opencode -m aischool/{model}",
    )
    others = (
        "export ANTHROPIC_API_KEY=$OPENAI_API_KEY",
        # The gateway's root, however long its name: Claude Code adds /v1/messages itself.
        "export ANTHROPIC_BASE_URL=${OPENAI_API_BASE%/v1}",
        f"claude --model {model}",
        f"mkdir -p {CODEX_HOME}",
        f"curl -so {CODEX_HOME}/config.toml $OPENAI_API_BASE/codex.toml",
        f"CODEX_HOME={CODEX_HOME} codex -m {model}",
    )
    return openai, others
