"""Documents service settings (``AISCHOOL_*`` environment variables)."""

from __future__ import annotations

from infra.settings import ServiceSettings


class DocumentsSettings(ServiceSettings):
    """Where the documents service listens (HTTP only for health and metrics)."""

    port: int = 8103
