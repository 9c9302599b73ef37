"""`aischool documents ...` commands."""

from __future__ import annotations

from infra.serve import service_cli
from services.documents.app import create_app
from services.documents.settings import DocumentsSettings

app = service_cli(DocumentsSettings, create_app)
