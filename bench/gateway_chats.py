"""What chat detection and body validation cost per request, on the captured tool bodies.

For each body of ``bench/gateway_bodies.py`` (Aider's and OpenCode's sessions, the last
request grown to 40 KiB): its size, the bytes of its user turns, and the CPU time of
``ChatTracker.observe`` (a fresh tracker per round, the session's requests in order, as one
key) and of ``validate`` and ``orjson.loads``, per call. Not a test: prints figures.

    .venv/bin/python -m bench.gateway_chats [--rounds 200]
"""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

import orjson

from bench.gateway_bodies import session
from services.gateway.domain.chats import ChatTracker
from services.gateway.domain.validation import validate


def user_bytes(body: dict[str, Any]) -> int:
    return sum(len(str(m.get("content") or "")) for m in body["messages"] if m["role"] == "user")


def per_call_us(rounds: int, bodies: list[tuple[dict[str, Any], dict[str, str]]]) -> list[float]:
    spent = [0.0] * len(bodies)
    key = uuid.uuid4()
    for _ in range(rounds):
        tracker = ChatTracker(uuid.uuid4)
        for index, (body, headers) in enumerate(bodies):
            began = time.process_time()
            tracker.observe(key, headers.get("x-session-id"), body)
            spent[index] += time.process_time() - began
    return [seconds / rounds * 1e6 for seconds in spent]


def cpu_us(rounds: int, call: Any) -> float:
    began = time.process_time()
    for _ in range(rounds):
        call()
    return (time.process_time() - began) / rounds * 1e6


def main(rounds: int) -> None:
    print(
        f"{'tool':9} {'KiB':>6} {'user KiB':>8} {'chats µs':>9} {'validate µs':>11} {'parse µs':>9}"
    )
    for tool in ("aider", "opencode"):
        raw = session(tool)
        bodies = [(orjson.loads(body), headers) for body, headers in raw]
        chats = per_call_us(rounds, bodies)
        for (data, _), (body, _), chat in zip(raw, bodies, chats, strict=True):
            check = cpu_us(rounds, lambda body=body: validate("/chat/completions", body))
            parse = cpu_us(rounds, lambda data=data: orjson.loads(data))
            print(
                f"{tool:9} {len(data) / 1024:>6.1f} {user_bytes(body) / 1024:>8.1f} {chat:>9.1f}"
                f" {check:>11.1f} {parse:>9.1f}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    main(parser.parse_args().rounds)
