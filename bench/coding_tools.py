"""Claude Code and Codex CLI against a gateway serving the built-in ``demo`` model.

Starts an embedded NATS and a gateway (no LLM: the demo model), issues two keys as the keys
service would (one with a budget, one with $0.000100 left), and runs each tool once with
each key, as a student would after the key sheet's set-up lines. Then a second gateway
serves ``claude-scripted``, an Anthropic-kind model whose upstream (``bench/scripted_claude``)
answers with a ``Write`` tool call, and Claude Code writes ``hello.py`` through it. Prints
what each tool answered, its exit code and time, the file, and what the gateway metered.
The tools are npm packages (``@anthropic-ai/claude-code``, ``@openai/codex``), installed
where ``--bin`` points:

    npm install --prefix /tmp/tools @anthropic-ai/claude-code @openai/codex
    .venv/bin/python -m bench.coding_tools --bin /tmp/tools/node_modules/.bin
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from bench.scripted_claude import FILE_NAME, scripted_app
from infra.embedded import EmbeddedNats
from infra.messaging import connect, ensure_streams
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


def claude_command(
    binary: Path, url: str, key: str, home: Path
) -> tuple[list[str], dict[str, str]]:
    """Claude Code in print mode on the gateway (the key sheet's lines)."""
    env = {
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_API_KEY": key,
        "ANTHROPIC_MODEL": "demo",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": "demo",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "HOME": str(home),
    }
    return [str(binary / "claude"), "-p", PROMPT, "--model", "demo"], env


def codex_command(binary: Path, url: str, key: str, home: Path) -> tuple[list[str], dict[str, str]]:
    """Codex CLI ``exec`` on the gateway through a custom Responses-API provider."""
    provider = (
        f'{{name="AI-School", base_url="{url}/v1", env_key="OPENAI_API_KEY", wire_api="responses"}}'
    )
    command = [
        str(binary / "codex"),
        "exec",
        "--skip-git-repo-check",
        "-c",
        "model_provider=aischool",
        "-c",
        f"model_providers.aischool={provider}",
        "-m",
        "demo",
        PROMPT,
    ]
    return command, {"OPENAI_API_KEY": key, "CODEX_HOME": str(home), "HOME": str(home)}


def run(name: str, command: list[str], env: dict[str, str], cwd: Path) -> None:
    started = time.perf_counter()
    done = subprocess.run(
        command,
        env={"PATH": os.environ["PATH"], **env},
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
    for tool, build in (("claude", claude_command), ("codex", codex_command)):
        for label, secret in (("$5 key", key), ("$0.0001 key", spent_key)):
            home = folder / f"home-{tool}-{label[:2]}"
            home.mkdir()
            command, env = build(binary, gateway.url, secret, home)
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
            command, env = claude_command(binary, gateway.url, key, home)
            command[2] = f"Create {FILE_NAME} that prints a greeting"
            command[-1] = "claude-scripted"
            env["ANTHROPIC_MODEL"] = env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] = "claude-scripted"
            run("claude, writing a file", [*command, "--allowedTools", "Write"], env, work)
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
