"""Real servers for tests: PostgreSQL and nats-server -js on free loopback ports.

Nothing here touches the servers the machine may already run on their standard ports.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from infra.embedded import EmbeddedNats, EmbeddedPostgres
from tests.fakes.upstream import FakeUpstream, ServerThread

# Fixtures that start a real server; a test using none of them (directly or through other
# fixtures) and living outside the process-level suites needs no server: `make test-fast`.
SERVER_FIXTURES = frozenset(
    {"pg_server", "database_url", "nats_server", "nats_url", "nats_client", "fake_upstream"}
)
PROCESS_SUITES = ("tests/e2e/", "tests/web/", "tests/infra/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs real servers with ``servers``."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        where = item.nodeid.replace("\\", "/")
        if fixtures & SERVER_FIXTURES or where.startswith(PROCESS_SUITES):
            item.add_marker(pytest.mark.servers)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """One PostgreSQL cluster for the run, created fresh in a temporary folder."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_pg(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL cluster of one test's own, which the test may stop and restart."""
    server = EmbeddedPostgres(tmp_path / "pg" / "data")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def database_url(pg_server: EmbeddedPostgres) -> str:
    """A new, empty database for one test."""
    return pg_server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A fresh nats-server with JetStream for one test (it may stop and restart it)."""
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def nats_url(nats_server: EmbeddedNats) -> str:
    return nats_server.url


@pytest.fixture
def fake_upstream() -> Iterator[tuple[FakeUpstream, str]]:
    """The fake OpenAI-compatible upstream and its base URL (``.../v1``)."""
    fake = FakeUpstream()
    with ServerThread(fake.app()) as server:
        yield fake, f"{server.url}/v1"


@pytest.fixture
async def nats_client(nats_url: str) -> AsyncIterator[object]:
    from infra.messaging import connect, ensure_streams

    nc = await connect(nats_url, "test")
    await ensure_streams(nc.jetstream())
    yield nc
    await nc.close()
