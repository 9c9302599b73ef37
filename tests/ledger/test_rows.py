"""Pure parts: month partitions, retention, and the batch split."""

from __future__ import annotations

from datetime import date

from services.ledger.domain.rows import (
    months_to_create,
    oldest_kept_month,
    partition_month,
    partition_name,
    request_columns,
    split,
)
from tests.ledger.conftest import ALICE, NOW


def test_partitions_are_made_from_last_month_to_the_months_ahead() -> None:
    assert months_to_create(date(2026, 1, 15), ahead=2, retention_months=24) == [
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
        date(2026, 3, 1),
    ]


def test_retention_counts_the_current_month_and_zero_keeps_everything() -> None:
    assert oldest_kept_month(date(2026, 3, 31), 3) == date(2026, 1, 1)
    assert oldest_kept_month(date(2026, 3, 31), 0) is None


def test_partition_names_round_trip_and_foreign_tables_are_ignored() -> None:
    assert partition_month(partition_name(date(2027, 2, 1))) == date(2027, 2, 1)
    assert partition_month("requests_default") is None
    assert partition_month("requests_y2026m13") is None


def test_a_batch_drops_expired_requests_and_duplicates_within_itself() -> None:
    old, new = ALICE.metered(1, at=NOW.replace(year=2020)), ALICE.metered(2)
    batch = split([old, new, new], oldest_kept=date(2026, 1, 1))

    assert batch.expired == 1
    assert request_columns(batch.requests)[0] == [str(new.request_id)]
    assert batch.months == {date(2026, 11, 1)}
