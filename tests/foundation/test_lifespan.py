"""The one lifespan pattern: steps close in reverse, also when a later start-up step fails."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from fastapi import FastAPI

from infra.lifespan import Startup, lifespan, runtime_of


@dataclass(frozen=True)
class Runtime:
    name: str


class Resource:
    """Something opened at start-up that must be closed: it records both in ``log``."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    async def close(self) -> None:
        self.log.append(f"close {self.name}")


async def opened(name: str, log: list[str]) -> Resource:
    log.append(f"open {name}")
    return Resource(name, log)


async def test_a_resource_opened_before_a_failing_step_is_still_closed() -> None:
    log: list[str] = []

    async def open_runtime(startup: Startup) -> Runtime:
        await startup.open(opened("pool", log), Resource.close)
        await startup.open(opened("nats", log), Resource.close)
        raise ConnectionRefusedError("the next step cannot reach its server")

    app = FastAPI(lifespan=lifespan(open_runtime))
    with pytest.raises(ConnectionRefusedError):
        async with app.router.lifespan_context(app):
            pytest.fail("the app must not run when its start-up failed")
    assert log == ["open pool", "open nats", "close nats", "close pool"]
    with pytest.raises(RuntimeError, match="has not started"):
        runtime_of(app, Runtime)


async def test_shut_down_undoes_every_step_in_reverse_and_tasks_stop_first() -> None:
    log: list[str] = []
    asked = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            log.append("supervised task ended")

    async def polite() -> None:
        await asked.wait()
        log.append("polite task returned by itself")

    async def ask() -> None:
        asked.set()

    async def open_runtime(startup: Startup) -> Runtime:
        await startup.open(opened("pool", log), Resource.close)
        startup.start("forever", forever)
        startup.start("polite", polite, stop=ask)
        return Runtime("svc")

    app = FastAPI(lifespan=lifespan(open_runtime))
    async with app.router.lifespan_context(app):
        assert runtime_of(app, Runtime) == Runtime("svc")
        await asyncio.sleep(0)  # let both tasks begin
        assert log == ["open pool"]
    assert log == [
        "open pool",
        "polite task returned by itself",
        "supervised task ended",
        "close pool",
    ]


async def test_runtime_of_refuses_an_object_of_another_type() -> None:
    async def open_runtime(startup: Startup) -> str:
        return "not a Runtime"

    app = FastAPI(lifespan=lifespan(open_runtime))
    async with app.router.lifespan_context(app):
        with pytest.raises(RuntimeError, match="Runtime is not there"):
            runtime_of(app, Runtime)
