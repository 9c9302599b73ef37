"""A batch PostgreSQL refuses is written in halves: the poison found in few transactions."""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from nats.aio.client import Client

from services.ledger.adapters.pull import Delivery
from services.ledger.adapters.store import Written
from services.ledger.domain.decode import RequestRow, request_row
from services.ledger.domain.rows import Batch
from services.ledger.usecases.ingest import UsageConsumer
from tests.fakes.events import request_metered


class RefusingConsumer(UsageConsumer):
    """Writes nothing; refuses, as PostgreSQL would, any batch holding a poison request."""

    def __init__(self, poison: set[str]) -> None:
        super().__init__(Client(), cast(Any, None), today=lambda: date(2026, 12, 6))
        self.poison = poison
        self.transactions: list[int] = []

    async def _write_batch(self, batch: Batch) -> Written:
        self.transactions.append(len(batch.requests))
        if any(r.request_id in self.poison for r in batch.requests):
            raise ValueError("refused")
        return Written(len(batch.requests), 0)


def _deliveries(count: int) -> list[tuple[Delivery, RequestRow]]:
    rows = [request_row(request_metered()) for _ in range(count)]
    return [
        (
            Delivery(
                b"coding.usage.x", f"$JS.ACK.USAGE.ledger.1.{n + 1}.{n + 1}.0.0".encode(), b""
            ),
            r,
        )
        for n, r in enumerate(rows)
    ]


async def test_one_poison_among_a_thousand_costs_few_transactions_and_the_rest_is_written() -> None:
    decoded = _deliveries(1000)
    consumer = RefusingConsumer({decoded[637][1].request_id})

    written, kept, dead = await consumer._write(list(decoded), None)

    assert [letter.sequence for letter in dead] == [638]
    assert written == Written(999, 0)
    assert len(kept.requests) == 999
    assert decoded[637][1] not in kept.requests
    assert len(consumer.transactions) <= 1 + 2 * 10  # the batch, then two halves per level


async def test_every_poison_is_found_and_nothing_else_is_lost() -> None:
    decoded = _deliveries(50)
    poison = {0, 1, 24, 25, 49}
    consumer = RefusingConsumer({decoded[n][1].request_id for n in poison})

    written, kept, dead = await consumer._write(list(decoded), None)

    assert sorted(letter.sequence for letter in dead) == sorted(n + 1 for n in poison)
    assert written == Written(45, 0)
    assert sorted(r.request_id for r in kept.requests) == sorted(
        decoded[n][1].request_id for n in range(50) if n not in poison
    )


async def test_a_single_refused_event_is_a_dead_letter() -> None:
    decoded = _deliveries(1)
    consumer = RefusingConsumer({decoded[0][1].request_id})

    written, kept, dead = await consumer._write(list(decoded), None)

    assert [letter.sequence for letter in dead] == [1] and written == Written(0, 0)
    assert kept.requests == []
