"""Request bodies as coding tools send them, from the captured Aider and OpenCode sessions.

The fixtures (``tests/gateway/fixtures/``) shortened long texts to 600 characters (noting the
original length) and kept only the names of OpenCode's tools; here each cut text is filled
back to its length and each tool gets a schema of the size OpenCode sends, so the bodies
weigh what the tools sent. Each session's last request is also grown into a longer
conversation (earlier exchanges repeated with their turn number), up to ``GROWN_KB``: chat
detection reads every user turn, so its cost grows with the conversation.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import orjson

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "gateway" / "fixtures"
CUT = re.compile(r"\.\.\.\[cut (\d+) chars sha256:([0-9a-f]+)\]")
KEPT = 600
GROWN_KB = (5, 10, 20, 40)
TOOL_SCHEMA_BYTES = 1400
Body = tuple[bytes, dict[str, str]]


def _filled(text: str) -> str:
    def fill(match: re.Match[str]) -> str:
        missing = int(match.group(1)) - KEPT
        words = f" {match.group(2)} lorem ipsum dolor sit amet consectetur"
        return (words * (missing // len(words) + 1))[:missing]

    return CUT.sub(fill, text)


def _restored(value: Any) -> Any:
    if isinstance(value, str):
        return _filled(value)
    if isinstance(value, list):
        return [_restored(item) for item in value]
    if isinstance(value, dict):
        return {key: _restored(item) for key, item in value.items()}
    return value


def _tool(name: str) -> dict[str, Any]:
    description = (f"The {name} tool. " * 200)[:TOOL_SCHEMA_BYTES]
    parameters = {"type": "object", "properties": {"input": {"type": "string"}}}
    return {"type": "function", "function": {"name": name, "description": description,
                                             "parameters": parameters}}  # fmt: skip


def _body(captured: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = _restored(captured)
    body["model"] = "bench"
    if isinstance(body.get("tools"), list):
        body["tools"] = [_tool(str(name)) for name in body["tools"]]
    return body


def _grown(body: dict[str, Any], kilobytes: int) -> dict[str, Any]:
    """The conversation with earlier exchanges repeated until the body has ``kilobytes``."""
    messages = body["messages"]
    head, exchange, last = messages[:1], messages[1:-1], messages[-1]
    grown, turn = list(exchange), 0
    while len(orjson.dumps({**body, "messages": [*head, *grown, last]})) < kilobytes * 1024:
        turn += 1
        grown += [{**m, "content": f"(turn {turn}) {m.get('content') or ''}"} for m in exchange]
    return {**body, "messages": [*head, *grown, last]}


def session(name: str) -> list[Body]:
    """``aider`` or ``opencode``: every captured request, then the last one grown."""
    captured = json.loads((FIXTURES / f"{name}_sessions.json").read_text())["requests"]
    bodies = [(_body(request["body"]), _headers(request["headers"])) for request in captured]
    last, headers = bodies[-1]
    bodies += [(_grown(last, kb), headers) for kb in GROWN_KB]
    return [(orjson.dumps(body), headers) for body, headers in bodies]


def _headers(captured: dict[str, str]) -> dict[str, str]:
    session_id = captured.get("x-session-id")
    return {"x-session-id": session_id} if session_id else {}


if __name__ == "__main__":
    for tool in ("aider", "opencode"):
        sizes = [len(body) for body, _ in session(tool)]
        print(tool, " ".join(f"{size / 1024:.1f}" for size in sizes), "KiB")
