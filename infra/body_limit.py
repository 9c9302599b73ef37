"""Request bodies over a stated size get 413 before anything parses them."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MIB = 1024 * 1024


class BodyTooLarge(Exception):
    """The body went past its limit while it was being read."""


class BodyLimit:
    """ASGI middleware: ``limit`` bytes per request body, or ``per_path[suffix]`` for paths
    ending in that suffix; a declared or streamed body past it is answered with 413."""

    def __init__(self, app: ASGIApp, limit: int = MIB, per_path: Mapping[str, int] = {}) -> None:
        self.app, self.limit, self.per_path = app, limit, dict(per_path)

    def _limit_for(self, path: str) -> int:
        return next((n for end, n in self.per_path.items() if path.endswith(end)), self.limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        seen, started, over = 0, False, False

        async def counted() -> Message:
            nonlocal seen, over
            message = await receive()
            seen += len(message.get("body", b""))
            over = over or seen > limit
            if over:
                raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            # A framework may catch BodyTooLarge while parsing and answer 400 itself: once the
            # body went over, whatever the app answers is replaced by the 413.
            nonlocal started
            if over:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(BodyTooLarge):  # answered below, as the 413
            await self.app(scope, counted, watched)
        if over and not started:
            await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    size = f"{limit // MIB} MiB" if limit >= MIB else f"{limit} bytes"
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Content Too Large",
            "status": 413,
            "detail": f"The request body is larger than {size}; send at most {size}.",
        }
    ).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
