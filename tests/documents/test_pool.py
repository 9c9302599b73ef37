"""Rendering in worker processes survives a worker that dies."""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool

import psutil
import pytest

from services.documents.adapters.pool import RenderPool
from services.documents.domain.parsing import DocumentKind
from tests.documents.helpers import letter_request, page_texts


async def test_a_killed_worker_fails_one_request_and_the_next_one_renders() -> None:
    pool = RenderPool(1)
    try:
        await pool.warm()
        for child in psutil.Process().children(recursive=True):
            if "spawn" in " ".join(child.cmdline()):
                child.kill()
        request = letter_request()
        with pytest.raises(BrokenProcessPool):
            await pool.pdf(request, DocumentKind.LETTER)
        pdf = await pool.pdf(request, DocumentKind.LETTER)
        assert request.cards[0].key in "".join(page_texts(pdf))
    finally:
        pool.close()
