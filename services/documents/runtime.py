"""The documents service's runtime: what its lifespan opens."""

from __future__ import annotations

from dataclasses import dataclass

from faststream.nats import NatsBroker

from services.documents.adapters.pool import RenderPool, ThreadRender


@dataclass(frozen=True)
class DocumentsRuntime:
    """The running documents service: its renderer and its NATS broker."""

    render: RenderPool | ThreadRender
    broker: NatsBroker
