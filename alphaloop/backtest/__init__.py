"""Backtesting: a vectorised engine, performance statistics and walk-forward evaluation.

- :func:`run_backtest` / :func:`buy_and_hold`: target positions on close prices, with
  proportional costs (:mod:`alphaloop.backtest.engine` documents the semantics).
- :mod:`alphaloop.backtest.stats`: Sharpe, Sortino, drawdown, the deflated Sharpe ratio...
- :func:`backtest_from_strategy` / :func:`optimize_parameters`: rule-based strategies.
- :func:`walk_forward_backtest`: retrain a classifier window by window and trade only its
  out-of-sample predictions through :mod:`alphaloop.signals`; its two halves,
  :func:`walk_forward_predict` and :func:`trade_walk_forward`, let a pipeline keep the
  predictions and re-trade them when only costs or rules change.
"""

from alphaloop.backtest.engine import BacktestResult, buy_and_hold, run_backtest, simulate
from alphaloop.backtest.stats import (
    compute_stats,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    infer_periods_per_year,
    max_drawdown,
    periods_per_year_for,
    probabilistic_sharpe_ratio,
    return_stats,
    sharpe_ratio,
    sortino_ratio,
)
from alphaloop.backtest.strategy import backtest_from_strategy, optimize_parameters
from alphaloop.backtest.walk_forward import (
    WalkForwardResult,
    trade_walk_forward,
    walk_forward_backtest,
    walk_forward_predict,
)

__all__ = [
    "BacktestResult",
    "WalkForwardResult",
    "backtest_from_strategy",
    "buy_and_hold",
    "compute_stats",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "infer_periods_per_year",
    "max_drawdown",
    "optimize_parameters",
    "periods_per_year_for",
    "probabilistic_sharpe_ratio",
    "return_stats",
    "run_backtest",
    "sharpe_ratio",
    "simulate",
    "sortino_ratio",
    "trade_walk_forward",
    "walk_forward_backtest",
    "walk_forward_predict",
]
