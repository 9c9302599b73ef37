"""JetStream key-value buckets, created idempotently at start-up (like the streams)."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BadRequestError, BucketNotFoundError
from nats.js.kv import KeyValue


async def ensure_bucket(
    js: JetStreamContext, bucket: str, replicas: int = 1, max_age_seconds: float = 0
) -> KeyValue:
    """The bucket, created with ``replicas`` copies and history 1 when it does not exist."""
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        pass
    config = KeyValueConfig(
        bucket=bucket,
        history=1,
        replicas=replicas,
        storage=StorageType.FILE,
        ttl=max_age_seconds or None,
    )
    try:
        return await js.create_key_value(config)
    except BadRequestError:
        # Another replica created it between our look and our create.
        return await js.key_value(bucket)
