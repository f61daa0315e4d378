import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alphaloop.execution import (
    Fill,
    FillConflict,
    Position,
    cash_from_fills,
    dedupe_fills,
    new_fills,
    position_from_fills,
    summarize_fills,
)
from alphaloop.execution.fills import check_order_fills
from tests.unit.execution.conftest import make_fill

CID = "al-order"

quantities = st.floats(min_value=1e-6, max_value=1e3, allow_nan=False, allow_infinity=False)
prices = st.floats(min_value=1e-2, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def noisy_reports(draw: st.DrawFn) -> tuple[list[Fill], list[Fill]]:
    """The venue's true fills of one order, and what a report stream delivered of them:
    shuffled, some duplicated (up to 3 copies), some dropped."""
    n = draw(st.integers(min_value=1, max_value=25))
    truth = [make_fill(CID, f"t{i}", draw(quantities), draw(prices), seconds=draw(
        st.integers(0, 50)), fee=draw(st.floats(0, 5))) for i in range(n)]
    copies = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))  # 0 = dropped
    stream = [fill for fill, k in zip(truth, copies, strict=True) for _ in range(k)]
    return truth, draw(st.permutations(stream))


@settings(max_examples=300, deadline=None)
@given(noisy_reports())
def test_shuffled_duplicated_dropped_reports_reconcile_exactly(
        case: tuple[list[Fill], list[Fill]]) -> None:
    truth, stream = case
    received = new_fills([], stream)  # what the store keeps from the report stream
    assert len({f.fill_id for f in received}) == len(received)
    recovered = new_fills(received, truth)  # the venue's trade query fills the gaps
    assert {f.fill_id for f in recovered}.isdisjoint(f.fill_id for f in received)
    got = summarize_fills([*received, *recovered])
    want = summarize_fills(truth)
    # bit-for-bit equal, whatever order and multiplicity the reports came in
    assert got == want
    assert got.fill_ids == tuple(sorted(f.fill_id for f in truth))
    assert got.quantity == math.fsum(f.quantity for f in truth)
    assert got.average_price is not None
    assert math.isclose(got.average_price,
                        sum(f.quantity * f.price for f in truth) / sum(f.quantity for f in truth),
                        rel_tol=1e-12)
    ordered = position_from_fills(Position("BTC/USDT"), truth)
    assert position_from_fills(Position("BTC/USDT"), [*stream, *truth]) == ordered
    assert cash_from_fills(1e5, [*stream, *truth]) == cash_from_fills(1e5, truth)


def test_summary_of_partial_fills() -> None:
    fills = [make_fill(CID, "a", 1.0, 100.0, fee=0.1), make_fill(CID, "b", 3.0, 104.0, fee=0.3)]
    summary = summarize_fills(fills + fills[:1])
    assert summary.quantity == 4.0
    assert summary.average_price == pytest.approx(103.0)
    assert summary.fees["quote"] == pytest.approx(0.4)
    assert summary.fill_ids == ("a", "b")
    assert summarize_fills([]).average_price is None


def test_conflicting_reports_are_refused() -> None:
    fill = make_fill(CID, "a", 1.0, 100.0)
    with pytest.raises(FillConflict, match="different content"):
        dedupe_fills([fill, replace(fill, price=101.0)])
    with pytest.raises(FillConflict, match="stored as"):
        new_fills([fill], [replace(fill, quantity=2.0)])


def test_fills_must_belong_to_their_order() -> None:
    fill = make_fill(CID, "a", 1.0, 100.0)
    check_order_fills(CID, "BTC/USDT", "buy", 1.0, [fill], 1e-9)
    with pytest.raises(FillConflict, match="does not belong"):
        check_order_fills(CID, "BTC/USDT", "sell", 1.0, [fill], 1e-9)
    with pytest.raises(FillConflict, match="exceed"):
        check_order_fills(CID, "BTC/USDT", "buy", 0.5, [fill], 1e-9)


def test_position_entry_price_through_add_reduce_and_flip() -> None:
    fills = [make_fill("o1", "1", 2.0, 100.0, seconds=1),
             make_fill("o2", "2", 2.0, 110.0, seconds=2),          # add: entry 105
             make_fill("o3", "3", 1.0, 120.0, "sell", seconds=3),  # reduce: entry stays
             make_fill("o4", "4", 5.0, 90.0, "sell", seconds=4)]   # flip to -2 at 90
    steps = [position_from_fills(Position("BTC/USDT"), fills[:k]) for k in range(1, 5)]
    assert [(p.quantity, p.average_price) for p in steps] == [
        (2.0, 100.0), (4.0, 105.0), (3.0, 105.0), (-2.0, 90.0)]
    flat = position_from_fills(Position("BTC/USDT"), [*fills, make_fill("o5", "5", 2.0, 80.0,
                                                                        seconds=5)])
    assert flat == Position("BTC/USDT", 0.0, None)


def test_fees_by_asset_move_cash_or_position() -> None:
    quote = make_fill(CID, "q", 1.0, 100.0, fee=0.5)
    base = replace(make_fill(CID, "b", 1.0, 100.0, fee=0.001), fee_asset="base")
    other = replace(make_fill(CID, "o", 1.0, 100.0, fee=0.2), fee_asset="other")
    assert cash_from_fills(1000.0, [quote]) == 899.5
    assert cash_from_fills(1000.0, [base, other]) == 800.0
    assert position_from_fills(Position("BTC/USDT"), [base]).quantity == pytest.approx(0.999)


def test_fill_values_are_checked() -> None:
    with pytest.raises(ValueError, match="quantity"):
        make_fill(CID, "a", 0.0, 100.0)
    with pytest.raises(ValueError, match="side"):
        make_fill(CID, "a", 1.0, 100.0, side="long")
