"""API key format: ``sk-ais-`` + 36 base62 characters (214 bits) + 6-character checksum.

The checksum (CRC-32 of the random part, base62) lets the gateway reject a mistyped key
without a lookup and lets secret scanners recognise a leaked one. Only the HMAC-SHA256 of a
key (with a server secret) and its display hint are ever stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib

PREFIX = "sk-ais-"
ADMIN_PREFIX = "ais-admin-"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_LENGTH = 36
CHECKSUM_LENGTH = 6
KEY_LENGTH = len(PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
KEY_PATTERN = re.compile(rf"{re.escape(PREFIX)}[0-9A-Za-z]{{{RANDOM_LENGTH + CHECKSUM_LENGTH}}}")


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        digits.append(_ALPHABET[rest])
    return "".join(reversed(digits))


def _checksum(random_part: str) -> str:
    return _base62(zlib.crc32(random_part.encode("ascii")), CHECKSUM_LENGTH)


def _random_part(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def generate_key() -> str:
    """A new API key with a valid checksum."""
    random_part = _random_part(RANDOM_LENGTH)
    return f"{PREFIX}{random_part}{_checksum(random_part)}"


def is_well_formed(key: str) -> bool:
    """True when the key has our prefix, length, alphabet and a matching checksum."""
    if len(key) != KEY_LENGTH or KEY_PATTERN.fullmatch(key) is None:
        return False
    body = key[len(PREFIX) :]
    return hmac.compare_digest(_checksum(body[:RANDOM_LENGTH]), body[RANDOM_LENGTH:])


def hash_secret(secret: str, server_secret: bytes) -> str:
    """HMAC-SHA256 (hex) of a key or admin token: the only form that is ever stored."""
    return hmac.new(server_secret, secret.encode("utf-8"), hashlib.sha256).hexdigest()


def key_hint(key: str) -> str:
    """Display hint: the prefix and the last four characters, e.g. ``sk-ais-…a1B2``."""
    return f"{PREFIX}…{key[-4:]}"


def generate_admin_token() -> str:
    """A new administrator bearer token (256 bits)."""
    return f"{ADMIN_PREFIX}{_random_part(43)}"
