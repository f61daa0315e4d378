from datetime import timedelta

import pytest

from alphaloop.execution import (
    NotFoundPolicy,
    OrderStatus,
    ReconciliationReport,
    TrackedOrder,
    VenueOrder,
    compare_positions,
    resolve_order,
)
from tests.unit.execution.conftest import T0, make_fill, make_intent

INTENT = make_intent(quantity=2.0)
CID = INTENT.client_order_id
POLICY = NotFoundPolicy(polls=3, grace_s=30.0)


def venue(status: OrderStatus, filled: float, side: str = "buy") -> VenueOrder:
    return VenueOrder(client_order_id=CID, venue_order_id="V1", symbol="BTC/USDT",
                      side=side, quantity=2.0, status=status,  # type: ignore[arg-type]
                      filled_quantity=filled, average_price=100.0 if filled else None)


def resolve(order: TrackedOrder, answer: VenueOrder | None, venue_fills=(), known=(),  # type: ignore[no-untyped-def]
            seconds: float = 0.0):
    return resolve_order(order, answer, list(venue_fills), list(known),
                         T0 + timedelta(seconds=seconds), POLICY, 1e-9)


def test_not_found_is_polled_until_polls_and_grace_both_pass() -> None:
    order = TrackedOrder(INTENT, OrderStatus.PENDING_SUBMIT)
    statuses = []
    for seconds in (0, 10, 20, 40):  # three misses by t=20 but grace (30 s) not yet over
        result = resolve(order, None, seconds=seconds)
        statuses.append(result.status)
        order = TrackedOrder(INTENT, result.status, missing_polls=result.missing_polls,
                             first_missing_at=result.first_missing_at)
    assert statuses == [OrderStatus.UNKNOWN] * 3 + [OrderStatus.NOT_PLACED]
    assert result.missing_polls == 4 and result.settled and result.problem is None


def test_found_after_misses_resets_the_count() -> None:
    order = TrackedOrder(INTENT, OrderStatus.UNKNOWN, missing_polls=2, first_missing_at=T0)
    fill = make_fill(CID, "f1", 2.0, 100.0)
    result = resolve(order, venue(OrderStatus.FILLED, 2.0), [fill], seconds=100)
    assert result.status == OrderStatus.FILLED and result.missing_polls == 0
    assert result.new_fills == (fill,) and result.settled


def test_an_acknowledged_order_the_venue_loses_is_a_problem_not_a_cancel() -> None:
    order = TrackedOrder(INTENT, OrderStatus.OPEN, venue_order_id="V1")
    result = resolve(order, None)
    assert result.status == OrderStatus.OPEN
    assert result.problem is not None and "does not exist" in result.problem


def test_filled_without_all_fills_is_not_settled() -> None:
    order = TrackedOrder(INTENT, OrderStatus.PENDING_SUBMIT)
    first = make_fill(CID, "f1", 0.5, 100.0)
    result = resolve(order, venue(OrderStatus.FILLED, 2.0), [first])
    assert result.status == OrderStatus.FILLED and not result.settled
    second = make_fill(CID, "f2", 1.5, 101.0, seconds=1)
    again = resolve(order, venue(OrderStatus.FILLED, 2.0), [first, second], known=[first])
    assert again.new_fills == (second,) and again.settled


def test_venue_contradictions_are_problems() -> None:
    order = TrackedOrder(INTENT, OrderStatus.UNKNOWN)
    wrong_side = resolve(order, venue(OrderStatus.FILLED, 2.0, side="sell"))
    assert wrong_side.problem and "we sent buy" in wrong_side.problem
    assert wrong_side.status == OrderStatus.UNKNOWN  # nothing changed
    overfilled = resolve(order, venue(OrderStatus.FILLED, 2.0),
                         [make_fill(CID, "a", 1.5, 100.0), make_fill(CID, "b", 1.5, 100.0)])
    assert overfilled.problem and "exceed" in overfilled.problem and not overfilled.new_fills


def test_compare_positions_and_report() -> None:
    diffs = compare_positions({"BTC/USDT": 1.0, "ETH/USDT": 0.0},
                              {"BTC/USDT": 1.0 + 1e-12, "SOL/USDT": 3.0}, 1e-9)
    assert [(d.symbol, d.store, d.venue) for d in diffs] == [("SOL/USDT", 0.0, 3.0)]
    report = ReconciliationReport(positions=diffs, cash=(10.0, 12.0))
    assert not report.ok
    assert report.describe() == ("position SOL/USDT: store 0.0 vs venue 3.0; "
                                 "cash: store 10.0 vs venue 12.0")
    assert ReconciliationReport().ok


def test_policy_is_checked() -> None:
    with pytest.raises(ValueError):
        NotFoundPolicy(polls=0)
