"""The keys service in-process on real PostgreSQL and NATS, with two administrators."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from contracts.directory import Admin
from contracts.events import EventBase
from infra.database import migrate, open_pool
from infra.lifespan import runtime_of
from services.documents.app import create_app as create_documents
from services.documents.settings import DocumentsSettings
from services.keys.adapters.memory import MemoryEventStore
from services.keys.adapters.store import PostgresEventStore
from services.keys.api.directory import snapshot_of
from services.keys.api.schemas import DirectoryIn
from services.keys.app import SQL_DIR, create_app
from services.keys.domain.projection import ReadModel
from services.keys.runtime import KeysRuntime
from services.keys.settings import KeysSettings
from services.keys.usecases.admins import create_admin
from services.keys.usecases.context import Context
from services.keys.usecases.imports import import_directory
from services.keys.usecases.ports import EventStore
from services.keys.usecases.projector import Projector

SECRET = "keys-test-secret"

DIRECTORY: dict[str, Any] = {
    "schools": [
        {"school_id": "north", "name": "North College", "time_zone": "Europe/Amsterdam"},
        {"school_id": "south", "name": "South High", "time_zone": "America/New_York"},
    ],
    "users": [
        {
            "user_id": "t1",
            "role": "staff",
            "given_name": "Tess",
            "family_name": "Teacher",
            "school_ids": ["north"],
            "account": "tess@north",
        },
        {
            "user_id": "t2",
            "role": "staff",
            "given_name": "Tom",
            "family_name": "Unlinked",
            "school_ids": ["north"],
        },
        {
            "user_id": "s1",
            "role": "student",
            "given_name": "Ada",
            "family_name": "Alpha",
            "school_ids": ["north"],
            "account": "ada@north",
        },
        {
            "user_id": "s2",
            "role": "student",
            "given_name": "Bo",
            "family_name": "Beta",
            "school_ids": ["north"],
            "account": "bo@north",
        },
        {
            "user_id": "s3",
            "role": "student",
            "given_name": "Cy",
            "family_name": "Gamma",
            "school_ids": ["north"],
        },
        {
            "user_id": "z1",
            "role": "staff",
            "given_name": "Zed",
            "family_name": "South",
            "school_ids": ["south"],
            "account": "zed@south",
        },
        {
            "user_id": "z2",
            "role": "student",
            "given_name": "Yan",
            "family_name": "South",
            "school_ids": ["south"],
            "account": "yan@south",
        },
    ],
    "groups": [
        {"group_id": "n-4a", "school_id": "north", "name": "4A", "student_ids": ["s1", "s2", "s3"]},
        {"group_id": "s-9", "school_id": "south", "name": "Nine", "student_ids": ["z2"]},
    ],
}


class Clock:
    """A clock tests can move; it follows real time until ``set``."""

    def __init__(self) -> None:
        self.fixed: datetime | None = None

    def __call__(self) -> datetime:
        return self.fixed or datetime.now(UTC)

    def set(self, moment: datetime) -> None:
        self.fixed = moment


@dataclass
class Keys:
    """A running keys app, an HTTP client and tokens: ``root`` (all schools), ``north``."""

    app: FastAPI
    http: httpx.AsyncClient
    settings: KeysSettings
    clock: Clock
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def ctx(self) -> Context:
        return runtime_of(self.app, KeysRuntime).ctx

    def auth(self, who: str = "root") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def call(self, method: str, url: str, who: str = "root", **kw: Any) -> httpx.Response:
        headers = {**self.auth(who), **kw.pop("headers", {})}
        return await self.http.request(method, url, headers=headers, **kw)

    async def event_count(self) -> int:
        return len(await self.ctx.projector.store.read_after(0, 1_000_000))


def settings_for(database_url: str, nats_url: str, **changes: Any) -> KeysSettings:
    return KeysSettings(
        database_url=database_url,
        nats_url=nats_url,
        hash_secret=SECRET,
        render_timeout_seconds=changes.pop("render_timeout_seconds", 20.0),
        renewal_interval_seconds=3600,
        **changes,
    )


async def wait_ready(http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(30):
        while (await http.get("/readyz")).status_code != 200:
            await asyncio.sleep(0.05)


async def start_keys(settings: KeysSettings, clock: Clock) -> AsyncIterator[Keys]:
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://keys") as http:
            await wait_ready(http)
            keys = Keys(app, http, settings, clock)
            store, secret = keys.ctx.projector.store, SECRET.encode()
            for who, scope in (("root", None), ("north", ["north"]), ("south", ["south"])):
                keys.tokens[who] = await create_admin(
                    store, who, scope, secret, now=datetime.now(UTC), new_id=uuid.uuid4
                )
            await keys.ctx.projector.catch_up()
            yield keys


@pytest.fixture
async def keys(database_url: str, nats_url: str) -> AsyncIterator[Keys]:
    """The keys service, empty but for three administrators."""
    async for running in start_keys(settings_for(database_url, nats_url), Clock()):
        yield running


@pytest.fixture
async def seeded(keys: Keys) -> Keys:
    """The keys service with two schools, staff, students and groups imported."""
    response = await keys.call("POST", "/directory", json=DIRECTORY)
    assert response.status_code == 200, response.text
    return keys


def in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


@pytest.fixture
async def documents(nats_url: str) -> AsyncIterator[FastAPI]:
    """The real documents service, answering key-sheet requests on the test's NATS."""
    # Rendering in a thread (no worker processes to spawn and warm) keeps these tests quick;
    # the worker pool is tested with the documents service.
    settings = DocumentsSettings(
        nats_url=nats_url, hash_secret="documents-secret", render_processes=0
    )
    app = create_documents(settings)
    async with app.router.lifespan_context(app):
        yield app


# The operator (every school in scope), as the command line acts.
ROOT = Admin("root", "root", None)


@dataclass
class UseCases:
    """The keys use cases on an event store with no HTTP and no NATS around them."""

    ctx: Context
    clock: Clock
    store: EventStore

    async def events(self) -> list[EventBase]:
        return [s.event for s in await self.store.read_after(0, 1_000_000)]


@pytest.fixture(
    params=[pytest.param("memory"), pytest.param("postgres", marks=pytest.mark.servers)]
)
async def usecases(request: pytest.FixtureRequest) -> AsyncIterator[UseCases]:
    """The use cases with DIRECTORY imported: on the in-memory event store (milliseconds)
    and on PostgreSQL (the same scenario against the real store)."""
    pool = None
    store: EventStore = MemoryEventStore()
    if request.param == "postgres":
        database_url = request.getfixturevalue("database_url")
        await migrate(database_url, "keys", SQL_DIR)
        pool = await open_pool(database_url, "keys", max_size=4)
        store = PostgresEventStore(pool)
    clock = Clock()
    ctx = Context(
        projector=Projector(store, ReadModel()),
        secret=SECRET.encode(),
        max_budget_usd=Decimal(1000),
        clock=clock,
        new_id=uuid.uuid4,
    )
    await import_directory(ctx, ROOT, snapshot_of(DirectoryIn.model_validate(DIRECTORY)))
    yield UseCases(ctx, clock, store)
    if pool is not None:
        await pool.close()
