"""Stateless confirmation tokens for group revocation: an HMAC over what was shown."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from services.keys.errors import StaleConfirmation

LIFETIME = timedelta(minutes=10)


def _mac(secret: bytes, group_id: str, key_ids: Iterable[uuid.UUID], expires: int) -> str:
    message = "|".join(["group-revoke", group_id, str(expires), *sorted(map(str, key_ids))])
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


def make_token(
    secret: bytes, group_id: str, key_ids: Iterable[uuid.UUID], now: datetime
) -> tuple[str, datetime]:
    """A token binding the group, the exact keys shown and an expiry; and that expiry."""
    expires = int((now + LIFETIME).timestamp())
    token = f"{expires}.{_mac(secret, group_id, key_ids, expires)}"
    return token, datetime.fromtimestamp(expires, UTC)


def check_token(
    secret: bytes, token: str, group_id: str, key_ids: Iterable[uuid.UUID], now: datetime
) -> None:
    """Refuse a token that expired or no longer matches the group's keys."""
    expires_text, _, mac = token.partition(".")
    if not expires_text.isdigit() or not mac:
        raise StaleConfirmation("The confirmation token is malformed; ask for a new one.")
    expires = int(expires_text)
    if now.timestamp() > expires:
        raise StaleConfirmation("The confirmation token has expired; ask for a new one.")
    if not hmac.compare_digest(mac, _mac(secret, group_id, key_ids, expires)):
        raise StaleConfirmation(
            "The group's keys changed since this confirmation was issued (or it is for "
            "another group); ask for a new confirmation and check it again."
        )
