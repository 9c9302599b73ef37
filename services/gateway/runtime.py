"""The gateway's runtime: what its lifespan opens and its routes use."""

from __future__ import annotations

from dataclasses import dataclass

from nats.aio.client import Client
from starlette.applications import Starlette

from infra.follow import Follower
from infra.lifespan import runtime_of
from services.gateway.adapters.metering import Meter
from services.gateway.settings import GatewaySettings
from services.gateway.usecases.exchange import State
from services.gateway.usecases.proxy import Proxy


@dataclass(frozen=True)
class GatewayRuntime:
    """The running gateway: what its lifespan opened, typed (``runtime_of(app, ...)``)."""

    settings: GatewaySettings
    nc: Client
    meter: Meter
    state: State
    proxy: Proxy
    followers: dict[str, Follower]


def proxy_of(app: Starlette) -> Proxy:
    """The running gateway's proxy (the forwarding routes' one dependency)."""
    return runtime_of(app, GatewayRuntime).proxy
