"""OpenCode, Claude Code and Codex CLI against a gateway serving the built-in ``demo`` model.

Starts an embedded NATS and a gateway (no LLM: the demo model), issues two keys as the keys
service would (one with a budget, one with $0.000100 left), and runs each tool once with
each key, as a student would after the key sheet's set-up lines. Then a second gateway
serves ``claude-scripted``, an Anthropic-kind model whose upstream (``bench/scripted_claude``)
answers with a ``Write`` tool call, and Claude Code writes ``hello.py`` through it. Prints
what each tool answered, its exit code and time, the file, and what the gateway metered.
The tools are npm packages (``opencode-ai``, ``@anthropic-ai/claude-code``,
``@openai/codex``), installed where ``--bin`` points; a missing one is skipped. Each tool is
run by ``sh`` from the lines the key sheet prints (``services.documents.domain.setup``), the key
pasted after the first ``=``, with only ``PATH`` and a fresh ``HOME`` in its environment; the
tool's line gets its batch-mode arguments appended (``run PROMPT`` for OpenCode, ``-p
PROMPT`` for Claude Code, ``exec PROMPT`` for Codex), which the bench prints. Aider (a PyPI
package with many dependencies) is not run here.

    npm install --prefix /tmp/tools @anthropic-ai/claude-code @openai/codex opencode-ai
    .venv/bin/python -m bench.coding_tools --bin /tmp/tools/node_modules/.bin
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from bench.scripted_claude import FILE_NAME, scripted_app
from infra.embedded import EmbeddedNats
from infra.messaging import connect, ensure_streams
from services.documents.domain.setup import setup_columns
from tests.fakes.upstream import ServerThread
from tests.gateway import conftest as gw

PROMPT = "Say hello to the class"
SCRIPTED_MODELS = """
[models.claude-scripted]
kind = "anthropic"
base_url = "{url}/v1"
input_usd_per_million = 3
output_usd_per_million = 15
max_output_tokens = 32000
"""


# Each tool's lines on the card after the first two (column, which lines), and what its last
# line gets appended to run once without a terminal; the card's lines run as printed
# (services/documents/domain/setup.py makes both).
TOOLS = {
    "opencode": (0, range(3, 5), 'run "{prompt}"'),
    "claude": (1, range(0, 3), '-p "{prompt}"'),
    "codex": (1, range(3, 6), 'exec --skip-git-repo-check "{prompt}"'),
}


def card_script(tool: str, url: str, key: str, model: str, prompt: str, extra: str = "") -> str:
    """The card's lines for ``tool`` as a student runs them: the key pasted after the first
    ``=``, the first two lines, the tool's lines, the last one given ``BATCH``'s arguments
    (and ``extra`` ones)."""
    columns = setup_columns(f"{url}/v1", model)
    column, which, batch = TOOLS[tool]
    lines = [columns[0][0] + key, columns[0][1], *(columns[column][i] for i in which)]
    lines[-1] += " " + batch.format(prompt=prompt) + (f" {extra}" if extra else "")
    return "\n".join(lines)


def shown(script: str, key: str) -> str:
    """The script as printed by the bench: the key's place marked, never the key."""
    return script.replace(key, "<key>")


def card_run(binary: Path, script: str, home: Path) -> tuple[list[str], dict[str, str]]:
    """``sh -c`` the script with only the tools on PATH and a fresh HOME: nothing but what
    the card sets (no other variable, no config file) reaches the tool."""
    env = {"PATH": f"{binary}:/usr/bin:/bin", "HOME": str(home)}
    return ["sh", "-c", script], env


def run(name: str, command: list[str], env: dict[str, str], cwd: Path) -> None:
    started = time.perf_counter()
    done = subprocess.run(
        command,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    seconds = time.perf_counter() - started
    print(f"--- {name}: exit {done.returncode} after {seconds:.1f} s")
    print((done.stdout.strip() or done.stderr.strip())[-800:])


async def session(binary: Path, folder: Path) -> None:
    nats = EmbeddedNats(folder / "nats")
    nats.start()
    try:
        nc = await connect(nats.url, "bench")
        js = nc.jetstream()
        await ensure_streams(js)
        await gw.js.__wrapped__(nc)  # type: ignore[attr-defined]  # the school, as tests do
        make = gw.make_settings.__wrapped__(folder, nats.url, (None, "http://unused/v1"))  # type: ignore[attr-defined]
        factory = next(make)
        gateway = gw.start_gateway(factory(models_file=None))
        try:
            await _tools(binary, gateway, js, folder)
        finally:
            await gateway.stop()
        try:
            await _edit(binary, factory, js, folder)
        finally:
            await nc.close()
    finally:
        nats.stop()


async def _tools(binary: Path, gateway: Any, js: Any, folder: Path) -> None:
    key, issued = await gw.issue_key(js, budget_micro_usd=5_000_000)
    spent_key, spent = await gw.issue_key(js, budget_micro_usd=100)
    work = folder / "project"
    work.mkdir()
    for tool in TOOLS:
        if not (binary / tool).exists():
            print(f"=== {tool}: not installed in {binary}, not run")
            continue
        for label, secret in (("$5 key", key), ("$0.0001 key", spent_key)):
            home = folder / f"home-{tool}-{label[:2]}"
            home.mkdir()
            script = card_script(tool, gateway.url, secret, "demo", PROMPT)
            print(f"=== {tool}, {label}: the card's lines, run by sh\n{shown(script, secret)}")
            command, env = card_run(binary, script, home)
            run(f"{tool}, {label}", command, env, work)
    await asyncio.sleep(1)  # the metering queue publishes in batches
    for event in await gw.metered(js):
        who = "$5 key" if event.key_id == issued.key_id else "$0.0001 key"
        assert event.key_id in (issued.key_id, spent.key_id)
        print(
            f"metered: {who} status {event.status} stream {event.stream} prompt"
            f" {event.prompt_tokens} completion {event.completion_tokens} cost"
            f" {event.cost_micro_usd} micro-USD"
        )


async def _edit(binary: Path, make: Any, js: Any, folder: Path) -> None:
    """Claude Code writes a file through the gateway, told to by the scripted upstream."""
    work = folder / "edit"
    work.mkdir()
    with ServerThread(scripted_app(str(work))) as upstream:
        models = folder / "scripted.toml"
        models.write_text(SCRIPTED_MODELS.format(url=upstream.url))
        settings = make(models_file=models, spool_dir=folder / "spool-2")
        gateway = gw.start_gateway(settings)
        try:
            key, issued = await gw.issue_key(js, budget_micro_usd=1_000_000)
            home = folder / "home-edit"
            home.mkdir()
            prompt = f"Create {FILE_NAME} that prints a greeting"
            script = card_script(
                "claude", gateway.url, key, "claude-scripted", prompt, "--allowedTools Write"
            )
            print(f"=== claude, writing a file: the card's lines\n{shown(script, key)}")
            command, env = card_run(binary, script, home)
            run("claude, writing a file", command, env, work)
            written = work / FILE_NAME
            print(f"{FILE_NAME}: {written.read_text()!r}" if written.exists() else "no file")
            await asyncio.sleep(1)  # the metering queue publishes in batches
            mine = [e for e in await gw.metered(js) if e.key_id == issued.key_id]
            cost = sum(e.cost_micro_usd for e in mine)
            print(f"metered: {len(mine)} requests of that key, {cost} micro-USD")
        finally:
            await gateway.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin", type=Path, required=True, help="folder holding claude, codex")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        mp = pytest.MonkeyPatch()
        mp.setenv("AISCHOOL_TEST_UPSTREAM_KEY", gw.UPSTREAM_SECRET)
        asyncio.run(session(args.bin.resolve(), Path(folder)))


if __name__ == "__main__":
    main()
