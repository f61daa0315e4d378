"""Meta-score, entry gate and the strategy plugins."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from alphaloop.features.orderbook import OrderBookSnapshot
from alphaloop.trading.meta import (
    compute_meta_score,
    gate_entry,
    regime_score,
    sentiment_score,
    tech_score,
)
from alphaloop.trading.strategies import BarContext, make_strategy, strategy_names

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def test_meta_score_is_a_weighted_mean_of_the_scores_present() -> None:
    full = compute_meta_score(0.5, 0.2, -0.4, 0.1)
    assert full == pytest.approx((0.3 * 0.5 + 0.2 * 0.2 - 0.3 * 0.4 + 0.2 * 0.1) / 1.0)
    # No order book: the others are renormalised, not averaged with a fake neutral book.
    assert compute_meta_score(None, 0.2, -0.4, math.nan) == pytest.approx(
        (0.2 * 0.2 - 0.3 * 0.4) / 0.5)
    assert compute_meta_score(None, 0.6, None, None) == pytest.approx(0.6)
    assert math.isnan(compute_meta_score(None, None, None, None))
    assert compute_meta_score(3.0, 3.0, 3.0, 3.0) == 1.0
    with pytest.raises(ValueError, match="weights"):
        compute_meta_score(0, 0, 0, 0, {"macro": 1.0})


def test_scores_map_model_outputs_onto_minus_one_to_one() -> None:
    assert tech_score(0.75) == pytest.approx(0.5)
    assert sentiment_score(-0.39) == pytest.approx(math.tanh(-0.39))
    assert regime_score(0.002, 0.004) == pytest.approx(math.tanh(0.5))
    assert math.isnan(regime_score(0.002, 0.0)) and math.isnan(sentiment_score(None))


def test_gate_vetoes_opposing_news_and_blocked_regimes_only() -> None:
    assert gate_entry(-0.05, "bull")  # mild news does not veto
    assert not gate_entry(-0.3, "bull")  # strongly negative news vetoes a long
    assert gate_entry(-0.3, "bull", side=-1)  # ...but not a short
    assert not gate_entry(0.5, "high_vol")
    assert gate_entry(None, None)


def book(bid_sizes: list[float], ask_sizes: list[float]) -> OrderBookSnapshot:
    bids = [(100.0 - i, s) for i, s in enumerate(bid_sizes)]
    asks = [(101.0 + i, s) for i, s in enumerate(ask_sizes)]
    return OrderBookSnapshot(NOW, bids, asks)


def test_ml_enhanced_needs_the_gate_and_an_agreeing_meta_score() -> None:
    ml = make_strategy("ml_enhanced", {"min_meta_agreement": 0.1})
    assert ml.signal(BarContext(0.6, meta_score=0.2)).allow_entry
    assert not ml.signal(BarContext(0.6, meta_score=0.05)).allow_entry
    assert not ml.signal(BarContext(0.6, meta_score=0.2, regime_label="high_vol")).allow_entry
    assert ml.signal(BarContext(0.4, meta_score=-0.2)).allow_entry  # a short
    assert not ml.signal(BarContext(math.nan)).allow_entry


def test_orderbook_enhanced_reads_the_book() -> None:
    ob = make_strategy("orderbook_enhanced")
    leaning_bid = book([5, 5, 5, 5, 5], [1, 1, 1, 1, 1])
    assert ob.signal(BarContext(0.6, book=leaning_bid)).allow_entry
    assert not ob.signal(BarContext(0.4, book=leaning_bid)).allow_entry  # short into bids
    assert not ob.signal(BarContext(0.6)).allow_entry  # no book, no entry
    wall = book([20] * 8, [1, 1, 1, 1, 1, 1, 1, 40])
    signal = ob.signal(BarContext(0.6, book=wall))
    assert not signal.allow_entry and "ask wall" in signal.note
    assert strategy_names() == ["ml_enhanced", "orderbook_enhanced"]
    with pytest.raises(ValueError, match="unknown strategy 'x'"):
        make_strategy("x")
    with pytest.raises(ValueError, match="min_imbalance"):
        make_strategy("orderbook_enhanced", {"min_imbalance": 2})
