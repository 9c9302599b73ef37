"""JetStream stream and subject names, with the retention each stream needs."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class StreamSpec:
    """What a stream is called, which subjects it holds and how long it keeps them."""

    name: str
    subject_prefix: str
    max_age_seconds: int  # 0 = forever
    duplicate_window_seconds: int

    @property
    def subjects(self) -> list[str]:
        return [f"{self.subject_prefix}.>"]

    def subject_for(self, event_type: str) -> str:
        """``KeyIssued`` -> ``coding.keys.key_issued``."""
        return f"{self.subject_prefix}.{_snake(event_type)}"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# KEYS is kept forever: a gateway rebuilds its whole projection from it. Its publisher (the
# relay) re-sends at most one batch after a crash, so an hour of duplicate window is ample.
KEYS = StreamSpec("KEYS", "coding.keys", max_age_seconds=0, duplicate_window_seconds=3600)
# USAGE: the ledger is the durable record; the stream keeps a year for replay and audit.
# Gateways re-send spooled events after an outage; the ledger dedupes by request_id too.
USAGE = StreamSpec(
    "USAGE", "coding.usage", max_age_seconds=400 * 86400, duplicate_window_seconds=1800
)
STREAMS = (KEYS, USAGE)

# Core NATS request/reply (never persisted): plaintext keys travel only here.
RENDER_KEY_SHEET = "coding.documents.render.key_sheet"
RENDER_KEY_LETTER = "coding.documents.render.key_letter"

# JetStream key-value bucket of the gateways' budget leases (one lease table per key, see
# services/gateway/domain/leases.py). A table not written for 40 days (longer than any budget
# period) is dropped; its grants had long expired.
BUDGET_LEASES = "BUDGET_LEASES"
BUDGET_LEASES_MAX_AGE_SECONDS = 40 * 86400
