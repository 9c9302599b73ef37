"""NATS connections and the JetStream streams, created idempotently at start-up."""

from __future__ import annotations

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from contracts.streams import STREAMS, StreamSpec


async def connect(url: str, name: str) -> Client:
    """A client that reconnects forever: services outlive a NATS restart."""
    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.25,
        connect_timeout=2,
        ping_interval=5,
    )


async def close(nc: Client) -> None:
    """Drain (finish what is in flight) while connected; with NATS away, just close, as
    draining would wait for a server."""
    await (nc.drain() if nc.is_connected else nc.close())


def _config(spec: StreamSpec, replicas: int) -> StreamConfig:
    return StreamConfig(
        name=spec.name,
        subjects=spec.subjects,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=float(spec.max_age_seconds),
        duplicate_window=float(spec.duplicate_window_seconds),
        num_replicas=replicas,
    )


async def ensure_streams(js: JetStreamContext, replicas: int = 1) -> None:
    """Create KEYS and USAGE with ``replicas`` copies, or bring an existing stream up to date."""
    for spec in STREAMS:
        config = _config(spec, replicas)
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            try:
                await js.add_stream(config)
            except BadRequestError:
                # Another service created it between our look and our add.
                await js.update_stream(config)
        else:
            await js.update_stream(config)
