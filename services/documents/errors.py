"""The documents service's one base error: its message is safe to send back to the caller."""

from __future__ import annotations


class DocumentsError(Exception):
    """A render request that cannot become a document; the message never holds a key."""
