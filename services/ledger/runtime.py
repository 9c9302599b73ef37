"""The ledger's runtime: what its lifespan opens and its handlers use."""

from __future__ import annotations

from dataclasses import dataclass

from nats.js import JetStreamContext

from infra.database import Pool
from services.ledger.domain.projection import KeysView
from services.ledger.settings import LedgerSettings


@dataclass(frozen=True)
class LedgerRuntime:
    """What request handlers need, opened by the lifespan (``app.state.runtime``)."""

    settings: LedgerSettings
    pool: Pool
    js: JetStreamContext
    view: KeysView
