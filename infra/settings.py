"""Settings every service shares; each service's own settings class extends this one."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Read from ``AISCHOOL_*`` environment variables; secrets have no defaults."""

    model_config = SettingsConfigDict(env_prefix="AISCHOOL_", extra="ignore")

    nats_url: str
    host: str = "127.0.0.1"
    port: int
    hash_secret: SecretStr
    log_level: str = "INFO"
    instance_id: str = "1"
    # Copies JetStream keeps of each stream: 1 on one server, 3 in a three-node cluster.
    stream_replicas: int = Field(default=1, ge=1, le=5)
