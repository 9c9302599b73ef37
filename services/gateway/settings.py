"""Gateway settings (``AISCHOOL_*`` environment variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from infra.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    """Where the gateway listens, which models it serves, where it spools metering."""

    port: int = 8100
    models_file: Path | None = None
    spool_dir: Path = Path("var/gateway-spool")
    upstream_timeout_seconds: float = 600.0
    upstream_connect_timeout_seconds: float = 10.0
    metering_publish_timeout_seconds: float = 2.0
    # Coding tools send a few requests at once (OpenCode's title and sub-agent calls).
    student_requests_per_minute: int = 60
    student_concurrent_requests: int = 6
    staff_requests_per_minute: int = 120
    staff_concurrent_requests: int = 12
    max_chats_per_key: int = 256
    # Larger bodies get a 413 before admission (a 10 MB body was once billed $2.62).
    max_request_bytes: int = 4 * 1024 * 1024
    # Admit a request only if the budget left pays for its prompt and this much answer.
    min_answer_tokens: int = Field(256, ge=1, le=100_000)
    # Budget leases shared by the replicas (docs/gateway.md "Several gateways"): how long a
    # grant holds without renewal (a killed replica's lease comes back this long plus a second
    # after its last write), how often used is reported, how long a write may take.
    budget_lease_seconds: float = Field(30.0, ge=3, le=3600)
    budget_lease_report_seconds: float = Field(1.0, gt=0, le=60)
    budget_lease_timeout_seconds: float = Field(1.0, gt=0, le=30)
