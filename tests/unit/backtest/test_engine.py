"""The backtest engine: hand-computed bars, no look-ahead, agreement with vectorbt.

vectorbt agreement (2,000-bar seeded random walk, regime-switching P(up)):

- No costs, ``size_type="targetpercent"``: per-bar returns within 1e-12, total return and
  max drawdown within 1e-10, the same number of orders (``"every_bar"`` with confidence
  sizing: vectorbt drops a ~1e-9-unit rebalance as below its size tolerance, so within 1
  order and 1e-8).
- Costs, ``size_type="targetamount"`` with the engine's own units and ``fees = fee +
  slippage``: within 1e-12 (the cost accounting is identical; 1e-9 after the rejected
  rebalance above). With ``fees=fee,
  slippage=slippage`` vectorbt charges the fee on the slipped price, ``fee * slippage`` more
  per unit of notional: within 2e-6 per bar.
- Costs, ``targetpercent``: long/flat agrees within 1e-12 (vectorbt caps a buy at the cash,
  which sizes on post-cost equity as we do); with shorts vectorbt sizes sells on pre-cost
  equity, so the position is ``1 / (1 - cost)`` larger after an order: within 1e-4 per bar
  and 2e-3 in total return and max drawdown, the same number of orders.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from alphaloop.backtest import (
    backtest_from_strategy,
    buy_and_hold,
    optimize_parameters,
    run_backtest,
)
from alphaloop.signals import SignalParams, target_positions

C = 0.0015  # 10 bps fee + 5 bps slippage


def _close(values: list[float]) -> pd.Series:
    index = pd.date_range("2024-01-01", periods=len(values), freq="15min", tz="UTC")
    return pd.Series(values, index=index, dtype=float)


def test_long_then_flat_without_costs() -> None:
    result = run_backtest(_close([100, 110, 99, 99]), np.array([1, 1, 0, 0]), 0, 0, 4)
    np.testing.assert_allclose(result.returns, [0.0, 0.1, -0.1, 0.0], atol=1e-15)
    np.testing.assert_allclose(result.equity, [1.0, 1.1, 0.99, 0.99])
    assert result.trades == 2
    assert result.stats["max_drawdown"] == pytest.approx(0.1)
    assert result.stats["total_return"] == pytest.approx(-0.01)
    assert result.stats["exposure"] == pytest.approx(0.5)


def test_costs_charged_at_the_order_bar() -> None:
    result = run_backtest(_close([100, 110, 99, 99]), np.array([1, 1, 0, 0]), 10, 5, 4)
    # Entry: buy T = 1 / (1 + c) of equity so that the position is 100% after its cost.
    entry = C / (1 + C)
    np.testing.assert_allclose(result.turnover, [1 / (1 + C), 0, 1, 0])
    np.testing.assert_allclose(result.costs, [entry, 0, C, 0])
    expected = [-entry, 0.1, 0.9 * (1 - C) - 1, 0.0]
    np.testing.assert_allclose(result.returns, expected, atol=1e-15)
    np.testing.assert_allclose(result.equity, np.cumprod(1 + np.array(expected)))
    assert result.equity.iloc[-1] == pytest.approx(1.1 * 0.9 * (1 - C) / (1 + C))


def test_short_position_drifts_until_the_next_order() -> None:
    close = _close([100, 90, 99])
    held = run_backtest(close, np.array([-1.0, -1.0, 0.0]), 0, 0, 3)
    # Short 0.01 units from equity 1: equity 1 + 0.01 * (100 - P).
    np.testing.assert_allclose(held.equity, [1.0, 1.1, 1.01])
    assert held.turnover.iloc[2] == pytest.approx(0.99 / 1.01)  # the drifted weight closed
    rebalanced = run_backtest(close, np.array([-1.0, -1.0, 0.0]), 0, 0, 3, rebalance="every_bar")
    np.testing.assert_allclose(rebalanced.equity, [1.0, 1.1, 0.99])
    assert rebalanced.trades == 3


def test_partial_position_drift_and_rebalance() -> None:
    close = _close([100, 200, 100])
    held = run_backtest(close, np.full(3, 0.5), 0, 0, 3)
    np.testing.assert_allclose(held.equity, [1.0, 1.5, 1.0])  # 0.005 units + 0.5 cash
    assert held.trades == 1
    rebalanced = run_backtest(close, np.full(3, 0.5), 0, 0, 3, rebalance="every_bar")
    np.testing.assert_allclose(rebalanced.equity, [1.0, 1.5, 1.125])
    # Bar 1: 1/3 of 1.5 drifted to 2/3; bar 2: 0.375 of 1.125 drifted to 1/3.
    np.testing.assert_allclose(rebalanced.turnover, [0.5, 2 / 3 - 0.5, 0.5 - 1 / 3])


def test_buy_and_hold_pays_one_entry() -> None:
    close = _close([100, 120, 90, 130])
    result = buy_and_hold(close, 10, 5, 4)
    assert result.trades == 1
    assert result.stats["total_return"] == pytest.approx(130 / (100 * (1 + C)) - 1)


def test_no_look_ahead() -> None:
    rng = np.random.default_rng(1)
    close = _close(list(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))))
    positions = np.sign(rng.normal(size=300))
    base = run_backtest(close, positions, 10, 5, 35_040)
    future = close.copy()
    future.iloc[201:] *= 1.5
    changed_positions = positions.copy()
    changed_positions[201:] = -changed_positions[201:]
    moved = run_backtest(future, changed_positions, 10, 5, 35_040)
    pd.testing.assert_series_equal(base.returns.iloc[:201], moved.returns.iloc[:201])
    # The position decided at close t earns exactly the move from t to t + 1.
    shifted = run_backtest(close, np.r_[np.zeros(100), 1.0, np.zeros(199)], 0, 0, 35_040)
    nonzero = np.flatnonzero(shifted.returns.to_numpy())
    assert nonzero.tolist() == [101]
    assert shifted.returns.iloc[101] == pytest.approx(close.iloc[101] / close.iloc[100] - 1)


@pytest.mark.parametrize(
    ("close", "positions", "message"),
    [
        (_close([100, -1]), [0, 1], "positive"),
        (_close([100, 101]), [0, np.nan], "finite"),
        (_close([100, 101]), [0, 1, 1], "shape"),
        (_close([100, 101]), pd.Series([0.0, 1.0]), "index"),
    ],
)
def test_bad_inputs(close: pd.Series, positions: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_backtest(close, positions if isinstance(positions, pd.Series) else np.array(positions))


# --- agreement with vectorbt -------------------------------------------------------------


@pytest.fixture(scope="module")
def walk() -> tuple[pd.Series, np.ndarray]:
    rng = np.random.default_rng(7)
    n = 2000
    close = _close(list(100 * np.exp(np.cumsum(rng.normal(0, 0.005, n)))))
    prob_up = np.repeat(rng.uniform(0.3, 0.7, n // 10), 10)  # a new view every 10 bars
    return close, prob_up


def _vbt_orders(
    close: pd.Series, size: np.ndarray, size_type: str, fee: float = 0.0, slippage: float = 0.0
) -> Any:
    vbt = pytest.importorskip("vectorbt")
    return vbt.Portfolio.from_orders(
        close, size=pd.Series(size, index=close.index), size_type=size_type,
        fees=fee, slippage=slippage, freq="15min", init_cash=1.0,
    )


def _percent_sizes(positions: np.ndarray, rebalance: str) -> np.ndarray:
    if rebalance == "every_bar":
        return positions
    changed = positions != np.r_[0.0, positions[:-1]]
    return np.where(changed, positions, np.nan)  # NaN: no order, the holding drifts


SIGNALS = [
    SignalParams(allow_short=False),
    SignalParams(allow_short=True),
    SignalParams(allow_short=False, sizing="confidence"),
    SignalParams(allow_short=True, sizing="confidence"),
]


@pytest.mark.parametrize("rebalance", ["on_change", "every_bar"])
@pytest.mark.parametrize("params", SIGNALS, ids=lambda p: f"{p.sizing}-short{p.allow_short}")
def test_matches_vectorbt_without_costs(
    walk: tuple[pd.Series, np.ndarray], params: SignalParams, rebalance: Any
) -> None:
    close, prob_up = walk
    positions = target_positions(prob_up, params)
    ours = run_backtest(close, positions, 0, 0, 35_040, rebalance=rebalance)
    pf = _vbt_orders(close, _percent_sizes(positions, rebalance), "targetpercent")
    tolerance, order_slack = 1e-12, 0
    if rebalance == "every_bar" and params.sizing == "confidence":
        tolerance, order_slack = 1e-8, 1  # vectorbt rejects one ~1e-9-unit rebalance
    np.testing.assert_allclose(ours.returns, pf.returns(), rtol=0, atol=tolerance)
    assert ours.stats["total_return"] == pytest.approx(pf.total_return(), abs=tolerance * 100)
    assert ours.stats["max_drawdown"] == pytest.approx(-pf.max_drawdown(), abs=tolerance * 100)
    assert abs(ours.trades - pf.orders.count()) <= order_slack
    assert ours.trades > 50


@pytest.mark.parametrize("rebalance", ["on_change", "every_bar"])
@pytest.mark.parametrize("params", SIGNALS, ids=lambda p: f"{p.sizing}-short{p.allow_short}")
def test_cost_accounting_matches_vectorbt(
    walk: tuple[pd.Series, np.ndarray], params: SignalParams, rebalance: Any
) -> None:
    close, prob_up = walk
    positions = target_positions(prob_up, params)
    ours = run_backtest(close, positions, 10, 5, 35_040, rebalance=rebalance)
    # The engine's units after each order: the target share of post-cost equity.
    units = np.where(ours.turnover > 0, positions * ours.equity / close, np.nan)
    pf = _vbt_orders(close, units, "targetamount", fee=C)
    tolerance, order_slack = 1e-12, 0
    if rebalance == "every_bar" and params.sizing == "confidence":
        tolerance, order_slack = 1e-9, 1  # the same rejected ~1e-9-unit rebalance
    np.testing.assert_allclose(ours.returns, pf.returns(), rtol=0, atol=tolerance)
    assert abs(ours.trades - pf.orders.count()) <= order_slack
    slipped = _vbt_orders(close, units, "targetamount", fee=10e-4, slippage=5e-4)
    np.testing.assert_allclose(ours.returns, slipped.returns(), rtol=0, atol=2e-6)


@pytest.mark.parametrize("params", SIGNALS, ids=lambda p: f"{p.sizing}-short{p.allow_short}")
def test_target_percent_with_costs_is_close_to_vectorbt(
    walk: tuple[pd.Series, np.ndarray], params: SignalParams
) -> None:
    close, prob_up = walk
    positions = target_positions(prob_up, params)
    ours = run_backtest(close, positions, 10, 5, 35_040)
    pf = _vbt_orders(close, _percent_sizes(positions, "on_change"), "targetpercent", C)
    exact = not params.allow_short and params.sizing == "fixed"
    per_bar, total = (1e-12, 1e-10) if exact else (1e-4, 2e-3)
    np.testing.assert_allclose(ours.returns, pf.returns(), rtol=0, atol=per_bar)
    assert ours.stats["total_return"] == pytest.approx(pf.total_return(), abs=total)
    assert ours.stats["max_drawdown"] == pytest.approx(-pf.max_drawdown(), abs=total)
    assert ours.trades == pf.orders.count()
    vbt_returns = ours.returns.vbt.returns(freq="15min")
    assert ours.stats["sharpe"] == pytest.approx(vbt_returns.sharpe_ratio(), rel=1e-9)
    assert ours.stats["sortino"] == pytest.approx(vbt_returns.sortino_ratio(), rel=1e-9)


# --- strategies and parameter search -------------------------------------------------------


def _bars(n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    return pd.DataFrame({
        "timestamp": pd.date_range("2024-01-01", periods=n, freq="15min", tz="UTC"),
        "close": 100 * np.exp(np.cumsum(rng.normal(0, 0.004, n))),
    })


def sma_cross(fast: int, slow: int) -> Callable[[pd.DataFrame], pd.Series]:
    def strategy(bars: pd.DataFrame) -> pd.Series:
        close = bars["close"]
        signal = close.rolling(fast).mean() - close.rolling(slow).mean()
        return np.sign(signal)  # NaN during the warm-up: flat

    return strategy


def test_backtest_from_strategy() -> None:
    bars = _bars()
    result = backtest_from_strategy(sma_cross(5, 20), bars, 10, 5)
    positions = np.nan_to_num(np.sign(
        bars["close"].rolling(5).mean() - bars["close"].rolling(20).mean()
    ))
    close = pd.Series(bars["close"].to_numpy(), index=pd.DatetimeIndex(bars["timestamp"]))
    direct = run_backtest(close, positions, 10, 5, 35_040)
    pd.testing.assert_series_equal(result.returns, direct.returns, check_names=False)
    assert result.stats == pytest.approx(direct.stats, nan_ok=True)
    with pytest.raises(ValueError, match="shape"):
        backtest_from_strategy(lambda b: np.zeros(3), bars)


def test_optimize_parameters_ranks_and_deflates() -> None:
    bars = _bars()
    grid = {"fast": [3, 5, 10], "slow": [20, 40]}
    table = optimize_parameters(bars, sma_cross, grid, metric="sharpe")
    assert len(table) == 6
    assert {"fast", "slow", "sharpe", "total_return", "max_drawdown", "trades"} <= set(table)
    assert table["sharpe"].is_monotonic_decreasing
    assert (table["n_trials"] == 6).all()
    # Trying six variants raises the bar: every deflated Sharpe is below its single-trial PSR.
    assert (table["deflated_sharpe"] < table["psr"]).all()
    best = table.iloc[0]
    single = backtest_from_strategy(sma_cross(int(best["fast"]), int(best["slow"])), bars)
    assert best["sharpe"] == pytest.approx(single.stats["sharpe"])
    by_drawdown = optimize_parameters(bars, sma_cross, grid, metric="max_drawdown")
    assert by_drawdown["max_drawdown"].is_monotonic_increasing
    with pytest.raises(ValueError, match="metric"):
        optimize_parameters(bars, sma_cross, grid, metric="luck")


def test_periods_per_year_inferred_from_the_index() -> None:
    close = _close([100, 101, 99, 102, 103])
    positions = np.array([1.0, 0.0, -1.0, 0.0, 1.0])
    inferred = run_backtest(close, positions)
    explicit = run_backtest(close, positions, 10, 5, 35_040)
    assert inferred.stats == pytest.approx(explicit.stats)
    with pytest.raises(ValueError, match="periods_per_year"):
        run_backtest(close.reset_index(drop=True), positions)
