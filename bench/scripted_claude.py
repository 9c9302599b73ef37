"""A scripted Anthropic-compatible upstream that makes Claude Code write a file.

Asked with a ``Write`` tool and no tool result yet, it answers with one ``tool_use`` of
``Write`` (``hello.py``); once the conversation holds a tool result, it answers "Done.".
Anything else (titles, summaries) gets a short text. Usage is reported as Anthropic does,
so the gateway meters every request exactly.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

FILE_NAME = "hello.py"
FILE_TEXT = 'print("hello from the gateway")\n'


def _has_tool_result(body: dict[str, Any]) -> bool:
    for message in body.get("messages") or ():
        content = message.get("content")
        if isinstance(content, list) and any(b.get("type") == "tool_result" for b in content):
            return True
    return False


def _blocks(body: dict[str, Any], folder: str) -> list[dict[str, Any]]:
    tools = {tool.get("name") for tool in body.get("tools") or ()}
    if "Write" in tools and not _has_tool_result(body):
        path = f"{folder}/{FILE_NAME}"
        call = {"file_path": path, "content": FILE_TEXT}
        return [{"type": "tool_use", "id": "toolu_bench1", "name": "Write", "input": call}]
    return [{"type": "text", "text": "Done."}]


def _events(blocks: list[dict[str, Any]], model: str) -> list[dict[str, Any]]:
    usage = {"input_tokens": 100, "output_tokens": 1, "cache_read_input_tokens": 0}
    start: dict[str, Any] = {"id": "msg_bench", "type": "message", "role": "assistant"}
    start["model"] = model
    start |= {"content": [], "stop_reason": None, "usage": usage}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(blocks):
        if block["type"] == "tool_use":
            opened = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        else:
            opened = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        events += [
            {"type": "content_block_start", "index": index, "content_block": opened},
            {"type": "content_block_delta", "index": index, "delta": delta},
            {"type": "content_block_stop", "index": index},
        ]
    stop = "tool_use" if blocks[0]["type"] == "tool_use" else "end_turn"
    events += [
        {"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": 20}},
        {"type": "message_stop"},
    ]
    return events


def scripted_app(folder: str) -> Starlette:
    """The upstream's ASGI app; ``folder`` is where Claude Code is told to write."""

    async def messages(request: Request) -> Response:
        body = await request.json()
        events = _events(_blocks(body, folder), body.get("model", "scripted"))
        if not body.get("stream"):
            final = {**events[0]["message"], "content": _blocks(body, folder)}
            return JSONResponse({**final, "usage": {"input_tokens": 100, "output_tokens": 20}})

        async def stream() -> AsyncIterator[bytes]:
            for event in events:
                yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def count_tokens(request: Request) -> Response:
        return JSONResponse({"input_tokens": 100})

    return Starlette(
        routes=[
            Route("/v1/messages", messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
        ]
    )
