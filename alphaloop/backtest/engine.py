"""Vectorised backtest of target positions on close prices.

Semantics (bar ``t`` is the bar that closes at ``close[t]``):

- ``positions[t]`` is the target position, a signed fraction of equity, decided at bar
  ``t``'s close from information up to ``t``. It is filled at ``close[t]`` and earns the
  close-to-close move from ``t`` to ``t + 1``, which shows in bar ``t + 1``'s return. No
  position is held before bar 0, so bar 0 carries at most the cost of the first order and
  the last bar's decision earns nothing.
- ``rebalance="on_change"`` (default): an order is placed only when the target changes.
  Between orders the holding is a fixed number of units, so its weight drifts with the price
  (a long ``w`` held while the price moves by ``ρ`` weighs ``w ρ / (1 + w (ρ - 1))``).
  ``rebalance="every_bar"``: at every close the holding is traded back to the target weight,
  drift included.
- Costs: an order's cost is its traded notional times ``c = (fee_bps + slippage_bps) / 1e4``,
  paid from equity at ``close[t]``. The order is sized so that, after paying its cost, the
  position is exactly ``positions[t]`` of the remaining equity. With ``d`` the drifted weight
  before the order and ``w`` the target, the traded notional as a fraction of pre-order
  equity is ``turnover = |w - d| / (1 + c * sign(w - d) * w)`` (the solution of
  ``turnover = |w * (1 - c * turnover) - d|``, i.e. ``|Δposition|`` to first order) and the
  cost fraction is ``c * turnover``. Turnover below 1e-12 of equity (float noise of a
  drift-free holding) is not an order.
- Per-bar net return: ``r[t] = (1 + h[t-1] * R[t]) * (1 - cost[t]) - 1`` with ``R`` the close
  return and ``h`` the weight held after bar ``t - 1``'s order. ``equity = cumprod(1 + r)``
  (starting equity 1). Equity is not floored at 0: leverage can lose more than the account.

vectorbt reproduces this exactly (``tests/unit/backtest/test_engine.py``): without costs as
``Portfolio.from_orders(close, size, size_type="targetpercent")`` (``size`` NaN where the
target is unchanged for ``"on_change"``, the full target series for ``"every_bar"``), and
with costs as ``size_type="targetamount"`` on the engine's units and ``fees=c``. With costs
and ``targetpercent``, vectorbt sizes sells on the pre-cost equity and caps buys by cash,
and ``slippage`` moves the fill price (an extra ``fee * slippage`` per unit of notional):
second-order differences that the tests bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from alphaloop.backtest.stats import compute_stats, infer_periods_per_year

Rebalance = Literal["on_change", "every_bar"]
_MIN_TURNOVER = 1e-12


@dataclass(frozen=True)
class BacktestResult:
    """Outcome of a backtest; every series shares the close series' index.

    Attributes:
        returns: Net return per bar (market move of the held position, minus costs).
        equity: Equity after each bar's order, starting from 1 before bar 0.
        positions: Target position per bar (signed fraction of equity).
        turnover: Notional traded at each bar, in multiples of equity.
        trades: Number of orders.
        stats: Summary statistics (see :mod:`alphaloop.backtest.stats`).
        gross_returns: Per-bar market return of the held position, before costs.
        costs: Per-bar cost as a fraction of the pre-order equity.
    """

    returns: pd.Series
    equity: pd.Series
    positions: pd.Series
    turnover: pd.Series
    trades: int
    stats: dict[str, float]
    gross_returns: pd.Series
    costs: pd.Series


def simulate(
    close: np.ndarray, positions: np.ndarray, cost_rate: float, rebalance: Rebalance = "on_change"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The engine on plain arrays: per-bar gross returns, turnover and cost fractions.

    Args:
        close: Positive close prices.
        positions: Target position per bar, same length as ``close``.
        cost_rate: Cost per unit of traded notional (``(fee_bps + slippage_bps) / 1e4``).
        rebalance: ``"on_change"`` or ``"every_bar"`` (see the module docstring).

    Returns:
        ``(gross, turnover, cost)``; the net return is ``(1 + gross) * (1 - cost) - 1``.
    """
    price = np.asarray(close, dtype=np.float64)
    w = np.asarray(positions, dtype=np.float64)
    n = price.size
    idx = np.arange(n)
    w_prev = np.r_[0.0, w[:-1]]
    if rebalance == "on_change":
        order = w != w_prev
    elif rebalance == "every_bar":
        order = (w != 0.0) | (w_prev != 0.0)
    else:
        raise ValueError(f"rebalance must be 'on_change' or 'every_bar', got {rebalance!r}")
    # The holding carried into bar t was set by the last order at or before t - 1; its
    # target then was w_prev[t] (a target only changes with an order).
    last_order = np.maximum.accumulate(np.where(order, idx, 0))
    anchor = np.r_[0, last_order[:-1]]
    rho_now = price / price[anchor]
    rho_before = np.r_[1.0, price[:-1]] / price[anchor]
    with np.errstate(divide="ignore", invalid="ignore"):
        held = w_prev * rho_before / (1.0 + w_prev * (rho_before - 1.0))
        drifted = w_prev * rho_now / (1.0 + w_prev * (rho_now - 1.0))
        bar_return = np.r_[0.0, price[1:] / price[:-1] - 1.0]
    gross = held * bar_return
    delta = w - drifted
    # Sized on post-cost equity: notional T solves T = |w (1 - c T) - d|.
    turnover = np.where(order, np.abs(delta) / (1.0 + cost_rate * np.sign(delta) * w), 0.0)
    turnover[turnover < _MIN_TURNOVER] = 0.0
    return gross, turnover, turnover * cost_rate


def run_backtest(
    close: pd.Series,
    positions: pd.Series | np.ndarray,
    fee_bps: float = 10.0,
    slippage_bps: float = 5.0,
    periods_per_year: float | None = None,
    *,
    rebalance: Rebalance = "on_change",
) -> BacktestResult:
    """Backtest target positions on a close series (see the module docstring).

    Args:
        close: Close prices indexed by (UTC) timestamp, ascending, positive and finite.
        positions: Target position per bar, decided at that bar's close; a Series must have
            ``close``'s index, an array its length. Must be finite.
        fee_bps: Fee per unit of traded notional, in basis points.
        slippage_bps: Slippage per unit of traded notional, in basis points.
        periods_per_year: Bars per year, to annualise statistics
            (see :func:`alphaloop.backtest.periods_per_year_for`); inferred from the
            index's median bar step as a 24/7 market when omitted.
        rebalance: ``"on_change"`` (trade only when the target changes; holdings drift) or
            ``"every_bar"`` (trade back to the target weight at every close).

    Returns:
        Returns, equity, positions, turnover, the number of orders and statistics.

    Raises:
        ValueError: On mismatched lengths or indexes, non-positive or non-finite prices,
            non-finite positions or negative costs.
    """
    price, target = _checked_inputs(close, positions)
    if fee_bps < 0 or slippage_bps < 0:
        raise ValueError(f"costs must be non-negative, got fee {fee_bps}, slippage {slippage_bps}")
    if periods_per_year is None:
        periods_per_year = infer_periods_per_year(close.index)
    if not periods_per_year > 0:
        raise ValueError(f"periods_per_year must be positive, got {periods_per_year}")
    cost_rate = (fee_bps + slippage_bps) / 1e4
    gross, turnover, cost = simulate(price, target, cost_rate, rebalance)
    net = (1.0 + gross) * (1.0 - cost) - 1.0
    index = close.index

    def series(values: np.ndarray, name: str) -> pd.Series:
        return pd.Series(values, index=index, name=name)

    return BacktestResult(
        returns=series(net, "returns"),
        equity=series(np.cumprod(1.0 + net), "equity"),
        positions=series(target, "position"),
        turnover=series(turnover, "turnover"),
        trades=int(np.count_nonzero(turnover)),
        stats=compute_stats(net, target, turnover, periods_per_year),
        gross_returns=series(gross, "gross_returns"),
        costs=series(cost, "costs"),
    )


def buy_and_hold(
    close: pd.Series,
    fee_bps: float = 10.0,
    slippage_bps: float = 5.0,
    periods_per_year: float | None = None,
) -> BacktestResult:
    """Fully long from bar 0's close to the end: one entry order, its costs, no exit."""
    return run_backtest(close, np.ones(len(close)), fee_bps, slippage_bps, periods_per_year)


def _checked_inputs(
    close: pd.Series, positions: pd.Series | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(close, pd.Series):
        raise TypeError(f"close must be a pandas Series, got {type(close).__name__}")
    price = close.to_numpy(dtype=np.float64)
    if price.size == 0:
        raise ValueError("close is empty")
    if not (np.isfinite(price).all() and (price > 0).all()):
        raise ValueError("close must be positive and finite on every bar")
    if isinstance(positions, pd.Series):
        if not positions.index.equals(close.index):
            raise ValueError("positions must have the same index as close")
        target = positions.to_numpy(dtype=np.float64)
    else:
        target = np.asarray(positions, dtype=np.float64)
    if target.shape != price.shape:
        raise ValueError(f"positions has shape {target.shape}, close has {price.shape}")
    if not np.isfinite(target).all():
        raise ValueError("positions must be finite on every bar (fill NaN targets first)")
    return price, target
