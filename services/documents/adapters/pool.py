"""Render the parts of a document in worker processes, in parallel, and join them."""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from contracts.documents import KeySheetRequest
from services.documents.adapters.render import Renderer, join_pdfs, parts_of
from services.documents.domain.parsing import DocumentKind
from services.documents.domain.parts import Part

# One Renderer per worker process, made by the pool's initializer: templates and texts are
# loaded once per process, not per part. It holds no request data between calls.
_worker: Renderer | None = None


def _start_worker() -> None:
    global _worker  # noqa: PLW0603 (per-process state, set once by the pool's initializer)
    _worker = Renderer()


def _render_part(request: KeySheetRequest, kind: DocumentKind, part: Part) -> bytes:
    assert _worker is not None, "the pool initializer makes the renderer"
    return _worker.part_pdf(request, kind, part)


def _warm() -> bool:
    # Renders nothing: importing WeasyPrint and loading the templates is what takes seconds.
    return _worker is not None


class RenderPool:
    """Renders a document's parts on ``processes`` CPU cores (WeasyPrint is pure-Python
    layout, so threads would share one core and slow the event loop)."""

    def __init__(self, processes: int) -> None:
        # spawn, not fork: the parent runs an event loop and NATS threads that a forked
        # child must not inherit. Requests reach the workers through pipes, never disk.
        self._processes = processes
        self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(self._processes, mp_context=context, initializer=_start_worker)

    async def warm(self) -> None:
        """Start every worker now, so the first request does not pay for the imports."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(self._executor, _warm) for _ in range(self._processes))
        )

    async def pdf(self, request: KeySheetRequest, kind: DocumentKind) -> bytes:
        """The whole document: its parts rendered in parallel, joined in page order."""
        try:
            return await self._pdf(request, kind)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): this request fails, the next gets a
            # fresh pool instead of the same error forever.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._start()
            raise

    async def _pdf(self, request: KeySheetRequest, kind: DocumentKind) -> bytes:
        loop = asyncio.get_running_loop()
        parts = await asyncio.gather(
            *(
                loop.run_in_executor(self._executor, _render_part, request, kind, part)
                for part in parts_of(request, kind)
            )
        )
        return await loop.run_in_executor(self._executor, join_pdfs, list(parts))

    def close(self) -> None:
        """Stop the workers, dropping parts not yet started."""
        self._executor.shutdown(wait=True, cancel_futures=True)


class ThreadRender:
    """Renders in one worker thread of this process: for tests and one-core machines."""

    def __init__(self) -> None:
        # One thread: WeasyPrint is not documented as thread-safe, and the event loop only
        # needs the rendering off its own thread to keep answering.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="documents-render")
        self._renderer = Renderer()

    async def warm(self) -> None:
        """Nothing to start: the renderer is loaded already."""

    async def pdf(self, request: KeySheetRequest, kind: DocumentKind) -> bytes:
        """The whole document, rendered part after part in the worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._renderer.pdf, request, kind)

    def close(self) -> None:
        """Stop the worker thread."""
        self._executor.shutdown(wait=True, cancel_futures=True)


def make_render(processes: int) -> RenderPool | ThreadRender:
    """A pool of ``processes`` workers, or rendering in a thread when ``processes`` is 0."""
    return RenderPool(processes) if processes > 0 else ThreadRender()
