"""A running gateway (uvicorn in a thread) against real NATS and the fake upstream."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from contracts.apikeys import generate_key, hash_secret, key_hint
from contracts.codec import decode, encode, headers, subject
from contracts.events import EventBase, KeyIssued, Renewal, RequestMetered, Role, SchoolRecorded
from contracts.streams import KEYS, USAGE
from infra.lifespan import runtime_of
from services.gateway.app import create_app
from services.gateway.runtime import GatewayRuntime
from services.gateway.settings import GatewaySettings
from services.gateway.usecases.proxy import Proxy
from tests.fakes.upstream import FakeUpstream, ServerThread
from tests.positions import gateway_sequence, reach

SECRET = "gateway-test-secret"
SCHOOL = "school-ams"
# Prices make a request cost a few thousand micro-USD: 10 and 100 micro-USD per token.
MODELS_TOML = """
[models.fake]
base_url = "{url}"
upstream_model = "fake-model"
api_key_env = "AISCHOOL_TEST_UPSTREAM_KEY"
input_usd_per_million = 10
cached_input_usd_per_million = 1
output_usd_per_million = 100
context_tokens = 8000
max_output_tokens = 50

[models.other]
base_url = "{url}"
upstream_model = "fake-model"
input_usd_per_million = 10
output_usd_per_million = 100
"""
UPSTREAM_SECRET = "upstream-secret-never-shown"
ISSUED_KEYS: list[str] = []
# The replicas running in this process: a published key is in each of their projections
# before ``issue_key`` returns.
RUNNING: list[Gateway] = []


def now() -> datetime:
    return datetime.now(UTC)


async def publish(js: JetStreamContext, event: EventBase) -> None:
    """Publish an event as the keys relay would."""
    await js.publish(subject(event), encode(event), headers=headers(event))


async def issue_key(
    js: JetStreamContext,
    *,
    budget_micro_usd: int = 10_000_000,
    role: Role = Role.STUDENT,
    renewal: Renewal = Renewal.NONE,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    allowed_models: tuple[str, ...] | None = None,
) -> tuple[str, KeyIssued]:
    """A new key (plaintext, event) published to KEYS; only its hash is in the event."""
    plaintext = generate_key()
    ISSUED_KEYS.append(plaintext)
    event = KeyIssued(
        event_id=uuid.uuid4(),
        occurred_at=now(),
        key_id=uuid.uuid4(),
        key_hash=hash_secret(plaintext, SECRET.encode()),
        key_hint=key_hint(plaintext),
        user_id=f"user-{uuid.uuid4().hex[:6]}",
        role=role,
        school_id=SCHOOL,
        group_id="group-1",
        budget_micro_usd=budget_micro_usd,
        renewal=renewal,
        period_start=now() - timedelta(minutes=1),
        valid_from=valid_from,
        valid_until=valid_until,
        allowed_models=allowed_models,
        batch_id=None,
        issued_by="admin-1",
    )
    ack = await js.publish(subject(event), encode(event), headers=headers(event))
    for gateway in RUNNING:
        await reach(gateway_sequence(gateway.url, KEYS), ack.seq, what=f"{gateway.url}'s keys")
    return plaintext, event


async def usage_events(js: JetStreamContext) -> list[EventBase]:
    """Every event in USAGE, in order (duplicates included, if JetStream kept any)."""
    info = await js.stream_info(USAGE.name)
    events: list[EventBase] = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        if info.state.last_seq == 0:
            break
        message = await js.get_msg(USAGE.name, seq)
        assert message.data is not None
        events.append(decode(message.data))
    return events


async def metered(js: JetStreamContext) -> list[RequestMetered]:
    return [e for e in await usage_events(js) if isinstance(e, RequestMetered)]


@dataclass
class Gateway:
    """One running gateway replica."""

    url: str
    settings: GatewaySettings
    server: ServerThread
    app: Any
    clients: list[openai.AsyncOpenAI] = field(default_factory=list)

    def client(self, key: str, **options: Any) -> openai.AsyncOpenAI:
        client = openai.AsyncOpenAI(api_key=key, base_url=f"{self.url}/v1", **options)
        self.clients.append(client)
        return client

    @property
    def runtime(self) -> GatewayRuntime:
        return runtime_of(self.app, GatewayRuntime)

    @property
    def proxy(self) -> Proxy:
        return self.runtime.proxy

    async def stop(self) -> None:
        """Close our clients, then shut the replica down (its lifespan runs to the end)."""
        for client in self.clients:
            await client.close()
        self.clients.clear()
        if self in RUNNING:
            RUNNING.remove(self)
        self.server.__exit__()


def start_gateway(settings: GatewaySettings) -> Gateway:
    """Start a gateway replica and wait until /readyz is green."""
    app = create_app(settings)
    server = ServerThread(app, lifespan="on", log_level="info").__enter__()
    deadline = time.monotonic() + 20
    while httpx.get(f"{server.url}/readyz").status_code != 200:
        assert time.monotonic() < deadline, "gateway never became ready"
        time.sleep(0.02)
    gateway = Gateway(server.url, settings, server, app)
    RUNNING.append(gateway)
    return gateway


@pytest.fixture
def make_settings(
    tmp_path: Path, nats_url: str, fake_upstream: tuple[FakeUpstream, str]
) -> Iterator[Any]:
    models_file = tmp_path / "models.toml"
    models_file.write_text(MODELS_TOML.format(url=fake_upstream[1]))
    mp = pytest.MonkeyPatch()
    mp.setenv("AISCHOOL_TEST_UPSTREAM_KEY", UPSTREAM_SECRET)

    def make(**overrides: Any) -> GatewaySettings:
        values: dict[str, Any] = {
            "nats_url": nats_url,
            "port": 0,
            "hash_secret": SECRET,
            "models_file": models_file,
            "spool_dir": tmp_path / "spool",
            "instance_id": "gw-1",
            "student_concurrent_requests": 100,
            "student_requests_per_minute": 10_000,
            **overrides,
        }
        return GatewaySettings(**values)

    yield make
    mp.undo()


@pytest.fixture
async def js(nats_client: Client) -> JetStreamContext:
    await publish(
        nats_client.jetstream(),
        SchoolRecorded(
            event_id=uuid.uuid4(),
            occurred_at=now(),
            school_id=SCHOOL,
            name="Amsterdam College",
            time_zone="Europe/Amsterdam",
        ),
    )
    return nats_client.jetstream()


@pytest.fixture
async def gateways(make_settings: Any) -> AsyncIterator[list[Gateway]]:
    """Started replicas (tests append), stopped at the end."""
    started: list[Gateway] = []
    yield started
    for gateway in started:
        await gateway.stop()


@pytest.fixture
async def gateway(js: JetStreamContext, make_settings: Any, gateways: list[Gateway]) -> Gateway:
    started = start_gateway(make_settings())
    gateways.append(started)
    return started


@pytest.fixture(autouse=True)
def no_plaintext_key_in_logs(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> Iterator[None]:
    """Every test: no issued key and not the upstream's key in any log line or output."""
    caplog.set_level(logging.DEBUG)
    yield
    out, err = capsys.readouterr()
    text = caplog.text + out + err
    for secret in [*ISSUED_KEYS, UPSTREAM_SECRET]:
        assert secret not in text
