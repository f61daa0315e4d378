"""Risk rules shared by the backtester and the trader: sizing, stops, kill switch, cost gate.

The ``risk:`` section of ``params.yaml`` (:class:`RiskParams`) adds to the ``backtest:``
decision rules (thresholds, sizing, costs: :class:`alphaloop.signals.BacktestParams`):

- **Cost-aware entry** (``cost_aware``): a position's expected edge over the label horizon is
  ``edge = s (2p - 1) E|r_h|`` per unit of notional, with ``s`` the side (+1 long, -1 short),
  ``p`` the calibrated P(up) and ``E|r_h| = sqrt(2 / pi) * vol * sqrt(h)`` the expected size of
  an ``h``-bar move for a per-bar volatility ``vol`` (the standard deviation of the last
  ``vol_window`` one-bar log returns, known at the bar's close). An entry needs
  ``edge > edge_multiple * 2c`` (``c`` the cost rate per side, so ``2c`` is the round trip);
  an open position is held while ``edge > hold_fraction * edge_multiple * 2c`` (the hold band
  against churn) and closed otherwise. ``edge_multiple = inf`` is "do not trade".
  ``edge_multiple`` and ``hold_fraction`` are chosen per walk-forward window on that window's
  training data only, from ``edge_multiples`` x ``hold_fractions`` plus "do not trade"
  (see :mod:`alphaloop.trading.selection`); a fixed pair can be given for the trader.
  Without ``cost_aware`` the ``backtest:`` thresholds decide the side, as before.
- **Sizing**: ``backtest.sizing`` (fixed or confidence) unless ``kelly_fraction`` is set:
  then the size is ``kelly_fraction * (edge - 2c) / vol_h^2``, the Kelly fraction of a bet
  with that net expected return and variance ``vol_h^2 = vol^2 h``, capped at
  ``backtest.max_position`` (and 0 when the net edge is not positive).
- **Stops** (``stop_loss`` / ``take_profit``, fractions of the entry price): checked on each
  bar's close; a stop closes the position and blocks new entries on that side until the
  signal leaves it (goes flat or turns).
- **Kill switch** (``max_daily_loss``, a fraction of the UTC day's starting equity): when
  equity falls that far the position is closed and no entry is made until the next UTC day.
- ``max_exposure``: the sum of |positions| across symbols (the trader scales its targets
  down to it; a one-symbol backtest never reaches it when ``max_position <= max_exposure``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from alphaloop.signals import BacktestParams

EXPECTED_ABS_NORMAL = math.sqrt(2.0 / math.pi)  # E|Z| for a standard normal Z
NO_TRADE = math.inf


class RiskParams(BaseModel):
    """The ``risk:`` section of ``params.yaml`` (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cost_aware: bool = True
    vol_window: int = Field(default=96, ge=2)
    edge_multiples: list[float] = Field(default_factory=lambda: [0.5, 1.0, 2.0, 4.0],
                                        min_length=1)
    hold_fractions: list[float] = Field(default_factory=lambda: [1.0, 0.5, 0.0], min_length=1)
    selection_min_bars: int = Field(default=500, ge=1)
    kelly_fraction: float | None = Field(default=None, gt=0.0, le=1.0)
    stop_loss: float | None = Field(default=None, gt=0.0, lt=1.0)
    take_profit: float | None = Field(default=None, gt=0.0)
    max_daily_loss: float | None = Field(default=None, gt=0.0, lt=1.0)
    max_exposure: float = Field(default=1.0, gt=0.0)

    @model_validator(mode="after")
    def _check_grid(self) -> RiskParams:
        if any(not (m > 0 and math.isfinite(m)) for m in self.edge_multiples):
            raise ValueError("risk.edge_multiples must be positive and finite "
                             "('do not trade' is always a candidate)")
        if any(not 0.0 <= h <= 1.0 for h in self.hold_fractions):
            raise ValueError("risk.hold_fractions must lie in [0, 1]")
        return self

    @property
    def path_dependent(self) -> bool:
        """Whether a rule needs the bar-by-bar path (the vectorised backtest cannot run it)."""
        return (self.cost_aware or self.kelly_fraction is not None or self.stop_loss is not None
                or self.take_profit is not None or self.max_daily_loss is not None)


@dataclass(frozen=True)
class DecisionRules:
    """Everything one bar's decision needs: signal rules, costs, risk rules, the entry pair.

    ``edge_multiple`` and ``hold_fraction`` are the cost-aware entry rule's pair in force
    (``edge_multiple = inf`` is "do not trade"); ``horizon`` is the label horizon in bars.
    """

    signal: BacktestParams
    risk: RiskParams
    horizon: int
    edge_multiple: float = 1.0
    hold_fraction: float = 0.5

    @property
    def cost_rate(self) -> float:
        """Cost per unit of traded notional, per side."""
        return (self.signal.fee_bps + self.signal.slippage_bps) / 1e4

    @property
    def vectorisable(self) -> bool:
        return not self.risk.path_dependent


def expected_move(vol: float, horizon: int) -> float:
    """``E|r_h|`` for a per-bar volatility ``vol`` over ``horizon`` bars (normal returns)."""
    return EXPECTED_ABS_NORMAL * vol * math.sqrt(horizon)


def edge(prob_up: float, side: int, vol: float, horizon: int) -> float:
    """Expected return per unit of notional of a position on ``side`` (NaN when unknown)."""
    if not (math.isfinite(prob_up) and math.isfinite(vol)):
        return math.nan
    return side * (2.0 * prob_up - 1.0) * expected_move(vol, horizon)


def size(prob_up: float, side: int, vol: float, rules: DecisionRules) -> float:
    """Unsigned position size (fraction of equity) for an entry or a held position."""
    cap = rules.signal.max_position
    if rules.risk.kelly_fraction is None:
        if rules.signal.sizing == "confidence":
            return cap * abs(2.0 * prob_up - 1.0)
        return cap
    net = edge(prob_up, side, vol, rules.horizon) - 2.0 * rules.cost_rate
    variance = vol * vol * rules.horizon
    if not (math.isfinite(net) and net > 0.0 and variance > 0.0):
        return 0.0
    return min(cap, rules.risk.kelly_fraction * net / variance)


def rolling_vol(close: np.ndarray, window: int) -> np.ndarray:
    """Standard deviation (ddof 1) of the last ``window`` one-bar log returns at each close.

    NaN until ``window`` returns exist. The trader's incremental value for the newest bar is
    :func:`latest_vol` on the same closes.
    """
    price = np.asarray(close, dtype=np.float64)
    out = np.full(price.size, np.nan)
    if price.size <= window:
        return out
    r = np.diff(np.log(price))
    windows = np.lib.stride_tricks.sliding_window_view(r, window)
    out[window:] = windows.std(axis=1, ddof=1)
    return out


def latest_vol(close: np.ndarray, window: int) -> float:
    """:func:`rolling_vol` at the last close, from the last ``window + 1`` closes only."""
    price = np.asarray(close, dtype=np.float64)
    if price.size <= window:
        return math.nan
    r = np.diff(np.log(price[-(window + 1):]))
    return float(r.std(ddof=1))
