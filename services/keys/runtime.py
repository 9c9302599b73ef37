"""The running keys service, typed: what its lifespan opened and what requests use."""

from __future__ import annotations

from dataclasses import dataclass

from nats.aio.client import Client
from nats.js import JetStreamContext

from infra.database import Pool
from infra.follow import Follower
from services.keys.adapters.relay import Relay
from services.keys.adapters.store import PostgresEventStore
from services.keys.settings import KeysSettings
from services.keys.usecases.context import Context
from services.keys.usecases.documents import Documents


@dataclass(frozen=True)
class KeysRuntime:
    """Opened by ``app.py``'s lifespan, kept as ``app.state.runtime``, read with its type
    through ``runtime_of(app, KeysRuntime)`` (``api/deps.py`` for the routes)."""

    settings: KeysSettings
    pool: Pool
    nc: Client
    js: JetStreamContext
    store: PostgresEventStore
    relay: Relay
    ctx: Context
    documents: Documents
    usage: Follower  # spend per key, from USAGE

    @property
    def default_time_zone(self) -> str:
        """The time zone of schools new to the directory (a OneRoster import)."""
        return self.settings.default_time_zone
