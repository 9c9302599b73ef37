"""Concurrent batch writes: the ledger's position moves in fetch order, not commit order."""

from services.ledger.domain.inorder import InOrder


def test_a_later_batch_committed_first_waits_for_the_earlier_one() -> None:
    order, ran = InOrder(), []
    first, second, third = order.ticket(), order.ticket(), order.ticket()
    order.finish(second, lambda: ran.append("second"))
    order.finish(third, lambda: ran.append("third"))
    assert ran == []  # the first batch is still being written
    order.finish(first, lambda: ran.append("first"))
    assert ran == ["first", "second", "third"]
