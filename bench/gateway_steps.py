"""The gateway's own steps per request, in-process, on the small body and the captured tools'.

For the small body of ``bench.gateway_floor`` and each session of ``bench/gateway_bodies.py``
(Aider's and OpenCode's requests in order, one key, the chat tracker warm after the first
round, as in a running gateway): the CPU time (``time.process_time``, its own cost included)
of parsing the body, validating it, chat detection, preparing the upstream body and building
the upstream request, per request. A loop runs with warm caches: in the server each step
costs three to five times as much (docs/benchmarks.md, "Fifth round"). Not a test.

    .venv/bin/python -m bench.gateway_steps [--rounds 300]
"""

from __future__ import annotations

import argparse
import time
import uuid

from bench.gateway_bodies import session
from bench.gateway_floor import SMALL
from services.gateway.adapters.upstream import Upstream
from services.gateway.domain.chats import ChatTracker
from services.gateway.domain.pricing import parse_models
from services.gateway.usecases.proxy import CHAT_PATH, openai_dialect, parse_object

MODELS = """[models.bench]
base_url = "http://127.0.0.1:9/v1"
input_usd_per_million = 1
output_usd_per_million = 2
max_output_tokens = 100
"""
STEPS = ("parse", "validate", "chats", "prepare", "build")


def per_request_us(rounds: int, bodies: list[tuple[bytes, dict[str, str]]]) -> list[float]:
    models = parse_models(MODELS)
    model, upstream, dialect = models["bench"], Upstream(models, 30), openai_dialect(CHAT_PATH)
    tracker, key = ChatTracker(uuid.uuid4), uuid.uuid4()
    spent = [0.0] * len(STEPS)
    for round_ in range(rounds + 1):
        for raw, headers in bodies:
            request_id = uuid.uuid4()
            marks = [time.process_time()]
            body = parse_object(raw)
            marks.append(time.process_time())
            dialect.validate(body)
            marks.append(time.process_time())
            tracker.observe(key, headers.get("x-session-id"), body)
            marks.append(time.process_time())
            content, _ = dialect.prepare(raw, body, model, 100)
            marks.append(time.process_time())
            upstream.build(model, CHAT_PATH, content, request_id)
            marks.append(time.process_time())
            if round_:  # the first round learns the chats and remembers their turns
                for step in range(len(STEPS)):
                    spent[step] += marks[step + 1] - marks[step]
    return [seconds / (rounds * len(bodies)) * 1e6 for seconds in spent]


def main(rounds: int) -> None:
    print(f"{'body':9} " + " ".join(f"{step:>8}" for step in STEPS) + f" {'total':>8}  µs/request")
    small: list[tuple[bytes, dict[str, str]]] = [(SMALL, {})]
    sets = {"small": small, "aider": session("aider"), "opencode": session("opencode")}
    for name, bodies in sets.items():
        figures = per_request_us(rounds, bodies)
        row = " ".join(f"{us:8.1f}" for us in figures)
        print(f"{name:9} {row} {sum(figures):8.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    main(parser.parse_args().rounds)
