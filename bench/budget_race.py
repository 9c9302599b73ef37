"""Budget race: 64 concurrent streams on one key, N rounds with random budgets and sizes.

Prints, per run, how many requests were served and refused, and the largest spend as a share
of its budget (never above 100 %: the gateway admits a request only if what is left pays for
its estimated prompt and a useful answer, and lowers its max_tokens to what is left).
The same race runs 25 times in ``tests/gateway/test_budget_exact.py``; this runs it longer.

    .venv/bin/python -m bench.budget_race --rounds 100
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from infra.embedded import EmbeddedNats
from infra.messaging import connect, ensure_streams
from tests.fakes.upstream import FakeUpstream, ServerThread
from tests.gateway import conftest as gw
from tests.gateway.test_budget_exact import CLIENTS, _stream, _wait_metered


async def race(rounds: int, seed: int, folder: Path) -> None:
    nats = EmbeddedNats(folder / "nats")
    nats.start()
    fake = FakeUpstream()
    try:
        with ServerThread(fake.app()) as upstream:
            nc = await connect(nats.url, "bench")
            js = nc.jetstream()
            await ensure_streams(js)
            await gw.js.__wrapped__(nc)  # type: ignore[attr-defined]  # the school, as tests do
            make = gw.make_settings.__wrapped__(folder, nats.url, (fake, f"{upstream.url}/v1"))  # type: ignore[attr-defined]
            gateway = gw.start_gateway(next(make)())
            try:
                await _rounds(gateway, js, rounds, random.Random(seed))
            finally:
                await gateway.stop()
                await nc.close()
    finally:
        nats.stop()


async def _rounds(gateway: Any, js: Any, rounds: int, rng: random.Random) -> None:
    served = refused = over = 0
    worst = 0.0
    started = time.perf_counter()
    for _ in range(rounds):
        budget = rng.randint(500, 60_000)
        key, issued = await gw.issue_key(js, budget_micro_usd=budget)
        client = gateway.client(key, max_retries=0)
        sizes = [(rng.randint(1, 400), rng.choice([None, 5, 20, 50])) for _ in range(CLIENTS)]
        answers = await asyncio.gather(*(_stream(client, w, m) for w, m in sizes))
        ok = sum(1 for a in answers if a)
        spent = sum(e.cost_micro_usd for e in await _wait_metered(js, issued.key_id, ok))
        served, refused = served + ok, refused + CLIENTS - ok
        over += spent > budget
        worst = max(worst, spent / budget)
    seconds = time.perf_counter() - started
    print(f"rounds {rounds}, clients {CLIENTS} on one key each round, {seconds:.1f} s")
    print(f"served {served}, refused (402/429) {refused}")
    print(f"rounds over budget: {over}; largest spend / budget: {worst:.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="var" if Path("var").is_dir() else None) as folder:
        mp = pytest.MonkeyPatch()
        mp.setenv("AISCHOOL_TEST_UPSTREAM_KEY", gw.UPSTREAM_SECRET)
        asyncio.run(race(args.rounds, args.seed, Path(folder)))
        mp.undo()


if __name__ == "__main__":
    main()
