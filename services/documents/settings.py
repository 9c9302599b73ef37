"""Documents service settings (``AISCHOOL_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field

from infra.settings import ServiceSettings


class DocumentsSettings(ServiceSettings):
    """Where the documents service listens (HTTP only for health and metrics), and how many
    processes render (``AISCHOOL_RENDER_PROCESSES``; 0 renders in a thread of this process)."""

    port: int = 8103
    render_processes: int = Field(default=2, ge=0, le=64)
