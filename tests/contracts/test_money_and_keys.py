"""Money is exact; API keys carry a checksum and are stored only as an HMAC."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import apikeys, money


def test_dollars_convert_to_exact_micro_dollars() -> None:
    assert money.usd_to_micro("12.50") == 12_500_000
    assert money.usd_to_micro(Decimal("0.000001")) == 1
    assert money.micro_to_usd(12_500_000) == Decimal("12.500000")


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_the_text_of_an_amount_is_the_decimal_s(micro: int) -> None:
    # Every amount a bigint column holds, written as micro_to_usd's Decimal writes itself.
    assert money.usd_text(micro) == str(money.micro_to_usd(micro))


@pytest.mark.parametrize("micro", [0, 1, -1, 999_999, -999_999, 1_000_000, -(2**63), 2**63 - 1])
def test_the_text_of_an_amount_has_six_decimals(micro: int) -> None:
    assert money.usd_text(micro) == str(money.micro_to_usd(micro))
    assert money.usd_text(12_500_000) == "12.500000" and money.usd_text(-1) == "-0.000001"


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "0.0000001", "abc"])
def test_amounts_that_are_not_exact_dollars_are_rejected(bad: str) -> None:
    with pytest.raises(money.MoneyError):
        money.usd_to_micro(bad)


def test_format_usd_shows_cents() -> None:
    assert money.format_usd(12_500_000) == "$12.50"
    assert money.format_usd(1_234_567_000_000) == "$1,234,567.00"


def test_a_generated_key_is_well_formed_and_unique() -> None:
    keys = {apikeys.generate_key() for _ in range(1000)}
    assert len(keys) == 1000
    assert all(apikeys.is_well_formed(k) and k.startswith("sk-ais-") for k in keys)


def test_a_mistyped_key_fails_its_checksum() -> None:
    key = apikeys.generate_key()
    body = key[len(apikeys.PREFIX) :]
    swapped = apikeys.PREFIX + body[1] + body[0] + body[2:]
    one_off = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert body[0] == body[1] or not apikeys.is_well_formed(swapped)
    assert not apikeys.is_well_formed(one_off)
    assert not apikeys.is_well_formed(key[:-1])
    assert not apikeys.is_well_formed("sk-other-" + body)


def test_the_stored_hash_and_hint_do_not_contain_the_key() -> None:
    key = apikeys.generate_key()
    digest = apikeys.hash_secret(key, b"server-secret")
    assert key not in digest and key[7:20] not in digest
    assert digest == apikeys.hash_secret(key, b"server-secret")
    assert digest != apikeys.hash_secret(key, b"other-secret")
    assert apikeys.key_hint(key) == f"sk-ais-…{key[-4:]}"
