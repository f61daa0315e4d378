"""The bar-by-bar backtester equals the vectorised engine whenever the engine can run the rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alphaloop.backtest import run_backtest
from alphaloop.signals import BacktestParams, target_positions
from alphaloop.trading.rules import DecisionRules, RiskParams, latest_vol, rolling_vol
from alphaloop.trading.stepwise import run_stepwise


def market(n: int = 3000, seed: int = 1) -> tuple[pd.Series, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))),
                      index=pd.date_range("2024-01-01", periods=n, freq="15min", tz="UTC"))
    p = np.clip(rng.normal(0.5, 0.08, n), 0, 1)
    p[rng.random(n) < 0.02] = np.nan  # bars without a signal
    return close, p


@pytest.mark.parametrize("signal", [
    BacktestParams(), BacktestParams(sizing="confidence", max_position=1.5),
    BacktestParams(allow_short=False, long_threshold=0.52, fee_bps=2.0, slippage_bps=0.0),
])
def test_stepwise_equals_the_vectorised_engine_bit_for_bit(signal: BacktestParams) -> None:
    close, p = market()
    rules = DecisionRules(signal, RiskParams(cost_aware=False), horizon=4)
    assert rules.vectorisable
    step = run_stepwise(close, p, rules).backtest
    vec = run_backtest(close, target_positions(p, signal), signal.fee_bps, signal.slippage_bps)
    assert np.array_equal(step.positions.to_numpy(), vec.positions.to_numpy())
    assert np.array_equal(step.returns.to_numpy(), vec.returns.to_numpy())
    assert np.array_equal(step.turnover.to_numpy(), vec.turnover.to_numpy())
    assert step.trades == vec.trades > 100
    assert step.stats == vec.stats


def test_path_dependent_rules_change_the_result() -> None:
    close, p = market()
    plain = DecisionRules(BacktestParams(), RiskParams(cost_aware=False), horizon=4)
    stopped = DecisionRules(BacktestParams(), RiskParams(cost_aware=False, stop_loss=0.01),
                            horizon=4)
    assert not stopped.vectorisable
    a, b = run_stepwise(close, p, plain), run_stepwise(close, p, stopped)
    assert (b.reasons.str.startswith("stop-loss")).sum() > 0
    assert not np.array_equal(a.backtest.positions, b.backtest.positions)


def test_rolling_vol_matches_the_latest_value_from_a_short_window() -> None:
    close, _ = market(400)
    prices = close.to_numpy()
    vol = rolling_vol(prices, 96)
    assert np.isnan(vol[:96]).all()
    for t in (96, 150, 399):
        assert vol[t] == pytest.approx(latest_vol(prices[: t + 1], 96), rel=1e-12)
        assert vol[t] == pytest.approx(np.diff(np.log(prices[t - 96: t + 1])).std(ddof=1),
                                       rel=1e-12)
