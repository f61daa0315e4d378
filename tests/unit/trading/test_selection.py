"""The cost-aware entry rule is chosen per window on training data, and may choose not to trade."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from alphaloop.backtest import run_backtest
from alphaloop.backtest.walk_forward import WalkForwardResult
from alphaloop.signals import BacktestParams, target_positions
from alphaloop.trading.rules import NO_TRADE, DecisionRules, RiskParams, rolling_vol
from alphaloop.trading.selection import cost_aware_walk_forward

PPY = 35040.0
RULES = DecisionRules(BacktestParams(), RiskParams(selection_min_bars=300), horizon=4)


def walk_forward(skill: float, seed: int = 0, n: int = 4000, first: int = 800,
                 step: int = 400) -> tuple[WalkForwardResult, np.ndarray]:
    """A random walk at 1% a bar and walk-forward P(up) forecasts of its next 4-bar move.

    ``skill`` weighs the true future move against noise of the same size in the forecast
    (0: no skill at all, with the same spread of probabilities).
    """
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    forward = np.r_[np.log(close[4:] / close[:-4]), np.zeros(4)] / 0.02
    z = skill * forward + (1 - skill) * rng.normal(0, 1, n)
    prob = 1 / (1 + np.exp(-1.5 * z))
    times = pd.date_range("2024-01-01", periods=n, freq="15min", tz="UTC")
    starts = list(range(first, n, step))
    windows = pd.DataFrame({"window": range(len(starts)), "test_first_row": starts,
                            "n_test": [min(step, n - s) for s in starts],
                            "train_last_row": [s - 5 for s in starts]})
    rows = np.arange(first, n)
    preds = pd.DataFrame({"row": rows, "window": (rows - first) // step, "prob_up": prob[rows]},
                         index=times[rows])
    signal = BacktestParams()
    vectorised = run_backtest(pd.Series(close[rows], index=times[rows]),
                              target_positions(prob[rows], signal), signal.fee_bps,
                              signal.slippage_bps, PPY)
    return WalkForwardResult(windows, preds, vectorised, vectorised), close


def test_a_weak_real_edge_is_traded_where_every_signal_loses() -> None:
    result, close = walk_forward(skill=0.2)
    traded = cost_aware_walk_forward(result, close, rolling_vol(close, 96), RULES, PPY)
    choices = traded.choices
    assert choices["edge_multiple"].iloc[0] == NO_TRADE  # nothing seen yet: stay flat
    assert (choices["edge_multiple"].iloc[1:] != NO_TRADE).all()
    summary = traded.summary()
    assert summary["trades"] > 50 and summary["total_return"] > 0
    # The same forecasts traded at every threshold crossing lose: costs eat the weak edge.
    assert float(result.backtest.stats["total_return"]) < 0
    assert summary["costs_paid"] < float(result.backtest.costs.sum())


def test_no_edge_means_no_trade() -> None:
    # The same spread of probabilities, no information: every candidate loses its costs on
    # the training bars, so "do not trade" wins every window.
    result, close = walk_forward(skill=0.0, seed=3)
    traded = cost_aware_walk_forward(result, close, rolling_vol(close, 96), RULES, PPY)
    assert (traded.choices["edge_multiple"] == NO_TRADE).all()
    assert traded.summary()["trades"] == 0 and traded.summary()["total_return"] == 0.0
    assert result.backtest.trades > 500  # the plain thresholds churn on the same forecasts
    assert float(result.backtest.stats["total_return"]) < -0.5


def test_each_window_chooses_on_its_training_span_only() -> None:
    result, close = walk_forward(skill=0.2)
    vol = rolling_vol(close, 96)
    before = cost_aware_walk_forward(result, close, vol, RULES, PPY).choices
    # Scramble everything after window 2's last training row: windows 0-2 must not notice.
    cut = int(result.windows["train_last_row"].iloc[2])
    preds = result.predictions.copy()
    late = preds["row"].to_numpy() > cut
    preds.loc[late, "prob_up"] = 1.0 - preds.loc[late, "prob_up"]
    moved = close.copy()
    moved[cut + 1:] = moved[cut + 1:][::-1]
    after = cost_aware_walk_forward(replace(result, predictions=preds), moved,
                                    rolling_vol(moved, 96), RULES, PPY).choices
    pd.testing.assert_frame_equal(before.iloc[:3], after.iloc[:3])
    assert not before.iloc[3:].equals(after.iloc[3:])


def test_the_grid_must_be_positive() -> None:
    with pytest.raises(ValueError, match="edge_multiples"):
        RiskParams(edge_multiples=[0.0])


def test_skipping_pairs_no_bar_can_enter_changes_no_choice() -> None:
    """The selection skips hurdles no bar clears; brute force over every pair agrees."""
    from alphaloop.trading.rules import expected_move
    from alphaloop.trading.selection import choose_entry_rule
    from alphaloop.trading.stepwise import run_stepwise

    result, close = walk_forward(skill=0.2, seed=1)
    rows = result.predictions["row"].to_numpy()
    prices = pd.Series(close[rows], index=result.predictions.index)
    prob = result.predictions["prob_up"].to_numpy()
    vol = rolling_vol(close, 96)[rows]
    rules = replace(RULES, risk=RULES.risk.model_copy(update={
        "edge_multiples": [0.5, 2.0, 8.0, 16.0]}))
    largest = np.nanmax(np.abs(2 * prob - 1) * expected_move(1.0, 4) * vol)
    hurdles = [m * 2 * rules.cost_rate for m in rules.risk.edge_multiples]
    assert min(hurdles) < largest < max(hurdles)  # some pairs skipped, some simulated
    choice = choose_entry_rule(prices, prob, vol, rules, PPY)
    scores = {(m, h): float(run_stepwise(prices, prob, replace(
        rules, edge_multiple=m, hold_fraction=h), vol=vol,
        periods_per_year=PPY).backtest.stats["total_return"])
        for m in rules.risk.edge_multiples for h in rules.risk.hold_fractions}
    best = max(scores.values())
    assert choice.best_pair_score == pytest.approx(best, abs=1e-15)
    if best > 0:
        assert scores[(choice.edge_multiple, choice.hold_fraction)] == best
