"""The ledger in-process against real PostgreSQL and nats-server, fed by events we publish."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from pydantic import SecretStr

from contracts.apikeys import hash_secret
from contracts.codec import MSG_ID, encode, headers, subject
from contracts.events import (
    AdminCreated,
    ChatCreated,
    EventBase,
    GroupRecorded,
    KeyIssued,
    Renewal,
    RequestMetered,
    Role,
    SchoolRecorded,
    StudentEnrolled,
    UserRecorded,
)
from contracts.streams import USAGE
from infra.database import Pool, open_pool
from services.ledger.app import create_app
from services.ledger.settings import LedgerSettings
from services.ledger.usecases.reconcile import ledger_sequence
from tests.fakes.events import request_metered

SECRET = "test-hash-secret"
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
TOKEN_ALL = "ais-admin-" + "a" * 43
TOKEN_A = "ais-admin-" + "b" * 43
TOKEN_B = "ais-admin-" + "c" * 43


def _id() -> uuid.UUID:
    return uuid.uuid4()


def admin(name: str, token: str, schools: tuple[str, ...] | None) -> AdminCreated:
    return AdminCreated(
        event_id=_id(),
        occurred_at=NOW,
        admin_id=name,
        name=name,
        token_hash=hash_secret(token, SECRET.encode()),
        school_ids=schools,
    )


def school(school_id: str, name: str) -> SchoolRecorded:
    return SchoolRecorded(
        event_id=_id(), occurred_at=NOW, school_id=school_id, name=name, time_zone="UTC"
    )


def group(group_id: str, school_id: str, name: str) -> GroupRecorded:
    return GroupRecorded(
        event_id=_id(), occurred_at=NOW, group_id=group_id, school_id=school_id, name=name
    )


def user(user_id: str, school_id: str, given: str, family: str, role: Role) -> UserRecorded:
    return UserRecorded(
        event_id=_id(),
        occurred_at=NOW,
        user_id=user_id,
        role=role,
        given_name=given,
        family_name=family,
        school_ids=(school_id,),
    )


def enrol(user_id: str, group_id: str) -> StudentEnrolled:
    return StudentEnrolled(event_id=_id(), occurred_at=NOW, user_id=user_id, group_id=group_id)


@dataclass(frozen=True)
class Key:
    """A key in the test directory: its id and who owns it."""

    key_id: uuid.UUID
    user_id: str
    school_id: str
    group_id: str | None

    def issued(self) -> KeyIssued:
        return KeyIssued(
            event_id=_id(),
            occurred_at=NOW,
            key_id=self.key_id,
            key_hash="h" * 64,
            key_hint=f"sk-ais-…{str(self.key_id)[-4:]}",
            user_id=self.user_id,
            role=Role.STUDENT if self.group_id else Role.STAFF,
            school_id=self.school_id,
            group_id=self.group_id,
            budget_micro_usd=10_000_000,
            renewal=Renewal.NONE,
            period_start=NOW,
            valid_from=None,
            valid_until=None,
            batch_id=None,
            issued_by="admin",
        )

    def metered(
        self,
        cost: int = 1000,
        *,
        at: datetime = NOW,
        model: str = "gpt-test",
        chat_id: uuid.UUID | None = None,
        prompt: int = 10,
        completion: int = 5,
    ) -> RequestMetered:
        return request_metered(
            event_id=_id(),
            request_id=_id(),
            key_id=self.key_id,
            user_id=self.user_id,
            school_id=self.school_id,
            group_id=self.group_id,
            model=model,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_micro_usd=cost,
            latency_ms=12,
            chat_id=chat_id,
            gateway_id="gw-1",
            at=at,
        )

    def chat(self, chat_id: uuid.UUID, title: str, at: datetime = NOW) -> ChatCreated:
        return ChatCreated(
            event_id=_id(),
            occurred_at=at,
            chat_id=chat_id,
            key_id=self.key_id,
            user_id=self.user_id,
            school_id=self.school_id,
            group_id=self.group_id,
            model="gpt-test",
            title=title,
            at=at,
        )


# Two schools; an admin for each and one for all. Alice and Bob are students of class 1A
# at school A (with Erin, who never used a key), Carol is staff at A, Dave a student of class
# 1B at school B.
ALICE = Key(uuid.UUID(int=1), "alice", "school-a", "group-1a")
BOB = Key(uuid.UUID(int=2), "bob", "school-a", "group-1a")
CAROL = Key(uuid.UUID(int=3), "carol", "school-a", None)
DAVE = Key(uuid.UUID(int=4), "dave", "school-b", "group-1b")
KEYS = (ALICE, BOB, CAROL, DAVE)


def directory_events() -> list[EventBase]:
    return [
        school("school-a", "Alpha College"),
        school("school-b", "Beta Lyceum"),
        group("group-1a", "school-a", "Class 1A"),
        group("group-1b", "school-b", "Class 1B"),
        user("alice", "school-a", "Alice", "Archer", Role.STUDENT),
        user("bob", "school-a", "Bob", "Baker", Role.STUDENT),
        user("carol", "school-a", "Carol", "Cook", Role.STAFF),
        user("dave", "school-b", "Dave", "Dyer", Role.STUDENT),
        user("erin", "school-a", "Erin", "Evans", Role.STUDENT),
        *(enrol(u, "group-1a") for u in ("alice", "bob", "erin")),
        enrol("dave", "group-1b"),
        admin("root", TOKEN_ALL, None),
        admin("admin-a", TOKEN_A, ("school-a",)),
        admin("admin-b", TOKEN_B, ("school-b",)),
        *(k.issued() for k in KEYS),
    ]


async def publish(
    js: JetStreamContext, events: Iterable[EventBase], *, fresh_ids: bool = False
) -> None:
    """Publish events as their services do, many in flight at once; ``fresh_ids`` gives each a
    new Nats-Msg-Id, as a re-send after JetStream's duplicate window would."""

    def _headers(event: EventBase) -> dict[str, str]:
        return {**headers(event), MSG_ID: str(uuid.uuid4())} if fresh_ids else headers(event)

    pending = [js.publish(subject(e), encode(e), headers=_headers(e), timeout=10) for e in events]
    for start in range(0, len(pending), 500):
        await asyncio.gather(*pending[start : start + 500])


def settings_for(database_url: str, nats_url: str, **extra: Any) -> LedgerSettings:
    return LedgerSettings(
        nats_url=nats_url,
        database_url=database_url,
        hash_secret=SecretStr(SECRET),
        ingest_batch_size=extra.pop("ingest_batch_size", 50),
        **extra,
    )


@dataclass
class Ledger:
    """A running in-process ledger: its HTTP client and its pool."""

    client: httpx.AsyncClient
    pool: Pool
    js: JetStreamContext

    async def get(self, path: str, token: str = TOKEN_ALL, **params: Any) -> httpx.Response:
        auth = {"Authorization": f"Bearer {token}"}
        accept = params.pop("accept", None)
        if accept:
            auth["Accept"] = accept
        # httpx would replace a query already in ``path`` by an empty ``params``.
        return await self.client.get(path, params=params or None, headers=auth)

    async def wait_ingested(self, requests: int, timeout: float = 30) -> None:
        """Wait until the rollup holds ``requests`` requests."""
        async with asyncio.timeout(timeout):
            while await self.total("requests") < requests:
                await asyncio.sleep(0.05)

    async def consumer_settled(self, timeout: float = 30) -> None:
        """Wait until the ledger has committed and acked everything in USAGE."""
        last = (await self.js.stream_info(USAGE.name)).state.last_seq
        async with asyncio.timeout(timeout):
            while await ledger_sequence(self.js) < last:
                await asyncio.sleep(0.05)

    async def total(self, column: str) -> int:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(
                f"SELECT coalesce(sum({column}), 0)::bigint AS n FROM daily_usage"
            )
            row = await cursor.fetchone()
            return int(row["n"]) if row else 0

    async def snapshot(self) -> dict[str, list[Any]]:
        """Every table's content, to compare before and after a replay."""
        tables = {
            "daily_usage": "key_id, day, model",
            "daily_group_usage": "school_id, day, group_id, model",
            "daily_school_usage": "school_id, day",
            "chats": "chat_id",
            "requests": "request_id",
        }
        out: dict[str, list[Any]] = {}
        async with self.pool.connection() as conn:
            for table, order in tables.items():
                cursor = await conn.execute(f"SELECT * FROM {table} ORDER BY {order}")
                out[table] = list(await cursor.fetchall())
        return out


LedgerFactory = Callable[..., Any]


@pytest.fixture
async def js(nats_client: Client) -> JetStreamContext:
    return nats_client.jetstream()


@pytest.fixture
async def ledger(database_url: str, nats_url: str, js: JetStreamContext) -> AsyncIterator[Ledger]:
    """The ledger, started after the directory was published, ready (caught up)."""
    await publish(js, directory_events())
    async with run_ledger(settings_for(database_url, nats_url), js) as running:
        yield running


def run_ledger(settings: LedgerSettings, js: JetStreamContext) -> Any:
    import contextlib

    @contextlib.asynccontextmanager
    async def running() -> AsyncIterator[Ledger]:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://ledger") as client:
                await wait_ready(client)
                pool = await open_pool(settings.database_url, settings.schema_name, max_size=2)
                try:
                    yield Ledger(client, pool, js)
                finally:
                    await pool.close()

    return running()


async def wait_ready(client: httpx.AsyncClient, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while (await client.get("/readyz")).status_code != 200:
            await asyncio.sleep(0.05)


DAY = timedelta(days=1)
