"""A migrated keys event store in a fresh database, for the foundation tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from infra.database import Pool, migrate, open_pool
from services.keys.app import SQL_DIR


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    await migrate(database_url, "keys", SQL_DIR)
    pool = await open_pool(database_url, "keys")
    yield pool
    await pool.close()
