"""Render requests for the documents service: core NATS request/reply, never persisted.

These carry plaintext keys, which is why they never go to a JetStream stream. The reply is
the PDF's bytes with header ``Ais-Status: ok``, or a UTF-8 error message with
``Ais-Status: error``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.events import Renewal

STATUS_HEADER = "Ais-Status"
STATUS_OK = "ok"
STATUS_ERROR = "error"


class KeyCard(BaseModel):
    """One person's key as printed on a card."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    key: str
    key_hint: str
    # Printed beside the name when two people on one sheet share it (their username or
    # student number), so each finds their own card; None: the name alone.
    detail: str | None = None


class KeySheetRequest(BaseModel):
    """A group's key sheet (or, with one card and no group, a staff member's key letter)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    language: Literal["en", "nl"] = "en"
    school_name: str
    time_zone: str
    group_name: str | None
    issued_at: AwareDatetime
    budget_micro_usd: int
    renewal: Renewal
    valid_from: AwareDatetime | None
    valid_until: AwareDatetime | None
    base_url: str
    cards: tuple[KeyCard, ...] = Field(min_length=1)
    # The model named in the printed Aider/OpenCode setup lines; None prints a placeholder.
    model: str | None = None
