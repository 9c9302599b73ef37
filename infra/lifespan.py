"""One start-up and shut-down for every service: open in order, close in reverse, always.

A service describes its start-up as one ``async def open_runtime(startup) -> Runtime``: each
step opens a resource (``startup.open``), enters a context (``startup.enter``) or starts a
supervised task (``startup.start``), and each registers how to undo it. ``lifespan`` runs
that on an ``AsyncExitStack``, so shut-down undoes the steps in reverse order, and a step
that fails half-way through start-up still closes everything opened before it (the first
cut leaked the pool when NATS was unreachable). The typed runtime object it returns is the
one thing kept on ``app.state``; ``runtime_of`` reads it back with its type.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any, TypeVar

import structlog
from starlette.applications import Starlette

from infra import supervise

log = structlog.get_logger(__name__)

T = TypeVar("T")
Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


class Startup:
    """The steps of one start-up; every step is undone at shut-down, last step first."""

    def __init__(self, stack: AsyncExitStack, app: Starlette) -> None:
        self._stack = stack
        self.app = app

    async def open(self, opening: Awaitable[T], close: Callable[[T], Awaitable[object]]) -> T:
        """Await ``opening``; ``close(resource)`` runs at shut-down or when a later step fails."""
        resource = await opening
        self._stack.push_async_callback(close, resource)
        return resource

    def own(self, resource: T, close: Callable[[T], Awaitable[object]]) -> T:
        """Like ``open`` for a resource made without awaiting."""
        self._stack.push_async_callback(close, resource)
        return resource

    async def enter(self, context: AbstractAsyncContextManager[T]) -> T:
        """Enter an async context manager; it is exited in its turn."""
        return await self._stack.enter_async_context(context)

    def on_close(self, close: Callable[[], Awaitable[object]]) -> None:
        """Run ``close()`` in its turn at shut-down (for a step that opened nothing itself)."""
        self._stack.push_async_callback(close)

    def task(
        self,
        task: asyncio.Task[Any],
        *,
        stop: Callable[[], Awaitable[object]] | None = None,
        grace: float = 5.0,
    ) -> asyncio.Task[Any]:
        """Own ``task``: at shut-down it is cancelled, or, with ``stop``, asked to stop and
        given ``grace`` seconds to return before it is cancelled."""
        self._stack.push_async_callback(_end, task, stop, grace)
        return task

    def start(
        self,
        name: str,
        run: Callable[[], Awaitable[None]],
        *,
        healthy: asyncio.Event | None = None,
        stop: Callable[[], Awaitable[object]] | None = None,
    ) -> asyncio.Task[None]:
        """Run ``run`` supervised (retried with backoff, see ``infra.supervise``) until
        shut-down; ``stop`` as in ``task``."""
        return self.task(supervise.start(name, run, healthy=healthy), stop=stop)


async def _end(
    task: asyncio.Task[Any], stop: Callable[[], Awaitable[object]] | None, grace: float
) -> None:
    if stop is not None and not task.done():
        # Some loops must return by themselves: cancelling psycopg's LISTEN loop inside
        # notifies() has been seen to hang, so they are asked first and cancelled only late.
        await stop()
        _, pending = await asyncio.wait([task], timeout=grace)
        if pending:
            log.warning("task_did_not_stop", task=task.get_name())
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def lifespan(open_runtime: Callable[[Startup], Awaitable[object]]) -> Lifespan:
    """A lifespan that runs ``open_runtime`` on an exit stack, keeps what it returns as
    ``app.state.runtime`` while the app runs, and closes every step in reverse at the end."""

    @contextlib.asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            app.state.runtime = await open_runtime(Startup(stack, app))
            yield

    return run


def runtime_of(app: Starlette, kind: type[T], name: str = "runtime") -> T:
    """The app's object ``name`` (its runtime unless told), of type ``kind``, checked: an
    error before start-up (or before whatever sets it), never an untyped ``app.state``."""
    value = getattr(app.state, name, None)
    if not isinstance(value, kind):
        raise RuntimeError(f"{kind.__name__} is not there: the app's lifespan has not started")
    return value
