"""Backtest rule-based strategies on bars, and grid-search their parameters.

A *strategy* is any callable that takes a bar frame and returns one target position per bar
(signed fraction of equity, decided at that bar's close from bars up to it). A *strategy
factory* builds a strategy from keyword parameters, e.g.::

    def sma_cross(fast: int, slow: int) -> Strategy:
        def strategy(bars: pd.DataFrame) -> pd.Series:
            close = bars["close"]
            return (close.rolling(fast).mean() > close.rolling(slow).mean()).astype(float)
        return strategy

Optimising parameters on the same period the result is reported for overfits: the best of
many tries looks good by chance. :func:`optimize_parameters` therefore reports, next to each
combination's statistics, the deflated Sharpe ratio with ``n_trials`` equal to the number of
combinations and the variance of their Sharpe ratios; judge the winner by that, and confirm
it on data the search never saw.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from alphaloop.backtest.engine import BacktestResult, Rebalance, run_backtest
from alphaloop.backtest.stats import deflated_sharpe_ratio, infer_periods_per_year

Strategy = Callable[[pd.DataFrame], "pd.Series | np.ndarray"]

# Statistics where a smaller value is better; every other metric is sorted descending.
LOWER_IS_BETTER = frozenset({"max_drawdown", "volatility", "turnover"})


def close_series(bars: pd.DataFrame) -> pd.Series:
    """The ``close`` column indexed by timestamp (a ``timestamp`` column or the index)."""
    if "close" not in bars.columns:
        raise ValueError("bars need a 'close' column")
    if "timestamp" in bars.columns:
        index = pd.DatetimeIndex(bars["timestamp"], name="timestamp")
    elif isinstance(bars.index, pd.DatetimeIndex):
        index = bars.index
    else:
        raise ValueError("bars need a 'timestamp' column or a DatetimeIndex")
    return pd.Series(bars["close"].to_numpy(dtype=np.float64), index=index, name="close")


def backtest_from_strategy(
    strategy: Strategy,
    bars: pd.DataFrame,
    fee_bps: float = 10.0,
    slippage_bps: float = 5.0,
    periods_per_year: float | None = None,
    *,
    rebalance: Rebalance = "on_change",
) -> BacktestResult:
    """Run ``strategy`` on ``bars`` and backtest its positions.

    Args:
        strategy: Bars in, one target position per bar out (NaN positions, e.g. during an
            indicator's warm-up, are flat).
        bars: Bar frame with ``close`` and a ``timestamp`` column (or a DatetimeIndex).
        fee_bps: Fee per unit of traded notional, in basis points.
        slippage_bps: Slippage per unit of traded notional, in basis points.
        periods_per_year: Bars per year; inferred from the timestamps (24/7 market) when
            omitted. Pass it for business-day sessions.
        rebalance: See :func:`alphaloop.backtest.run_backtest`.

    Returns:
        The backtest of the strategy's positions.
    """
    close = close_series(bars)
    raw = strategy(bars)
    positions = np.asarray(raw, dtype=np.float64)
    if positions.shape != (len(bars),):
        raise ValueError(f"strategy returned shape {positions.shape} for {len(bars)} bars")
    ppy = periods_per_year if periods_per_year is not None else infer_periods_per_year(close.index)
    return run_backtest(
        close, np.nan_to_num(positions, nan=0.0), fee_bps, slippage_bps, ppy, rebalance=rebalance
    )


def optimize_parameters(
    bars: pd.DataFrame,
    strategy_factory: Callable[..., Strategy],
    grid: Mapping[str, Sequence[Any]],
    metric: str = "sharpe",
    *,
    fee_bps: float = 10.0,
    slippage_bps: float = 5.0,
    periods_per_year: float | None = None,
    rebalance: Rebalance = "on_change",
) -> pd.DataFrame:
    """Backtest every combination of ``grid`` and rank them by ``metric``.

    Each row holds one combination's parameters, all its statistics and
    ``deflated_sharpe``: the probability that its true Sharpe ratio is above 0 given that
    ``n_trials`` (the number of combinations) were tried, using the variance of the
    combinations' per-bar Sharpe ratios (Bailey and López de Prado, 2014). The in-sample
    optimum is optimistic; see the module docstring.

    Args:
        bars: Bar frame with ``close`` and ``timestamp`` (or a DatetimeIndex).
        strategy_factory: Called with one keyword argument per grid key; returns a strategy.
        grid: Parameter name to the values to try.
        metric: Statistic to sort by: descending, or ascending for ``max_drawdown``,
            ``volatility`` and ``turnover``.
        fee_bps: Fee per unit of traded notional, in basis points.
        slippage_bps: Slippage per unit of traded notional, in basis points.
        periods_per_year: Bars per year; inferred from the timestamps when omitted.
        rebalance: See :func:`alphaloop.backtest.run_backtest`.

    Returns:
        One row per combination, best first, with columns: the grid keys, every statistic,
        ``psr`` (the single-trial probabilistic Sharpe ratio), ``deflated_sharpe`` and
        ``n_trials``.

    Raises:
        ValueError: For an empty grid or an unknown metric.
    """
    if not grid or any(len(values) == 0 for values in grid.values()):
        raise ValueError("grid needs at least one value for every parameter")
    close = close_series(bars)
    ppy = periods_per_year if periods_per_year is not None else infer_periods_per_year(close.index)
    keys = list(grid)
    rows: list[dict[str, Any]] = []
    returns: list[np.ndarray] = []
    for combo in itertools.product(*(grid[key] for key in keys)):
        params = dict(zip(keys, combo, strict=True))
        result = backtest_from_strategy(
            strategy_factory(**params), bars, fee_bps, slippage_bps, ppy, rebalance=rebalance
        )
        rows.append({**params, **result.stats})
        returns.append(result.returns.to_numpy())
    table = pd.DataFrame(rows)
    if metric not in table.columns or metric in keys:
        raise ValueError(f"unknown metric {metric!r}; choose one of {sorted(rows[0])}")
    n_trials = len(rows)
    per_bar_sharpe = table["sharpe"].to_numpy(dtype=np.float64) / math.sqrt(ppy)
    finite = per_bar_sharpe[np.isfinite(per_bar_sharpe)]
    variance = float(np.var(finite, ddof=1)) if finite.size > 1 else 0.0
    # The single-trial figure is the probabilistic Sharpe ratio; keep it beside the deflated one.
    table["psr"] = table["deflated_sharpe"]
    table["deflated_sharpe"] = [deflated_sharpe_ratio(r, n_trials, variance) for r in returns]
    table["n_trials"] = n_trials
    ascending = metric in LOWER_IS_BETTER
    return table.sort_values(metric, ascending=ascending, na_position="last", kind="stable") \
        .reset_index(drop=True)
