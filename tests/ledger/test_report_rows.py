"""Report rows from fetched dicts and from fetched tuples are the same rows; pure."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from contracts.events import Role
from contracts.money import micro_to_usd
from services.ledger.adapters.queries import GROUP_BY
from services.ledger.domain import reports
from services.ledger.domain.projection import KeysView
from services.ledger.domain.scope import Dimension
from tests.ledger.conftest import Key, group, school, user

KEY = Key(uuid.UUID(int=7), "u-1", "s-1", "g-1")
STAFF = Key(uuid.UUID(int=8), "u-2", "s-1", None)
AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _view() -> KeysView:
    view = KeysView()
    events = [school("s-1", "School One"), group("g-1", "s-1", "Class 1a")]
    events += [
        user("u-1", "s-1", "Ada", "L", Role.STUDENT),
        user("u-2", "s-1", "Bo", "M", Role.STAFF),
    ]
    for event in [*events, KEY.issued(), STAFF.issued()]:
        view.apply(event)
    return view


def _fetched(by: Dimension) -> list[dict[str, Any]]:
    """Rows as the rollup query returns them: its ids, then the metrics."""
    ids = {
        "key_id": KEY.key_id,
        "user_id": "u-1",
        "school_id": "s-1",
        "group_id": "g-1",
        "model": "small",
        "day": date(2026, 3, 1),
    }
    staff = ids | {"key_id": STAFF.key_id, "user_id": "u-2", "group_id": None, "model": "large"}
    rows = []
    for n, values in enumerate([ids, staff, ids | {"day": date(2026, 3, 2)}]):
        row = {c: values[c] for c in GROUP_BY[by]}
        row |= {"requests": n + 1, "input_tokens": 10, "output_tokens": 5, "cached_tokens": 0}
        row |= {"cost_micro_usd": [1_234_567, 0, -3][n], "chats": n, "first_use": AT}
        rows.append(row | {"last_use": None if n else AT})
    return rows


@pytest.mark.parametrize("by", list(reports.NAMED))
def test_rows_from_tuples_are_the_rows_from_dicts(by: Dimension) -> None:
    view, fetched = _view(), _fetched(by)
    from_dicts = reports.usage_rows(fetched, by, view)
    columns = tuple(fetched[0])
    from_tuples = reports.table_rows(columns, [tuple(r.values()) for r in fetched], by, view)
    assert from_tuples == from_dicts
    for row, was in zip(from_dicts, fetched, strict=True):
        assert list(row) == [*reports.NAMED[by], *reports.METRICS]
        assert row == {c: reports.with_names(was, view).get(c) for c in row}
        assert row["cost_usd"] == str(micro_to_usd(was["cost_micro_usd"]))
