"""The bar-by-bar backtester: :func:`alphaloop.trading.decide` at every close.

It books the account exactly as the vectorised engine does (:mod:`alphaloop.backtest.engine`:
fills at the close, costs on the traded notional, holdings drifting with the price between
orders), so with no path-dependent rule on it reproduces :func:`alphaloop.backtest.run_backtest`
(``tests/unit/trading/test_stepwise.py``); with stops, the kill switch, Kelly sizing or the
cost-aware entry rule on, it is the only backtester that can run them. The paper trader books
the same decisions through a broker and ends with the same equity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alphaloop.backtest.engine import BacktestResult
from alphaloop.backtest.stats import compute_stats, infer_periods_per_year
from alphaloop.trading.decision import BarInput, RiskState, decide
from alphaloop.trading.rules import DecisionRules


@dataclass(frozen=True)
class StepwiseResult:
    """The backtest and, per bar, why the decision was taken and the edge it saw."""

    backtest: BacktestResult
    reasons: pd.Series
    edges: pd.Series
    state: RiskState  # after the last bar


def run_stepwise(close: pd.Series, prob_up: np.ndarray, rules: DecisionRules | Sequence[
        DecisionRules], *, vol: np.ndarray | None = None, allow_entry: np.ndarray | None = None,
        periods_per_year: float | None = None) -> StepwiseResult:
    """Decide and book every bar in turn.

    Args:
        close: Close prices indexed by UTC timestamp.
        prob_up: P(up) per bar (NaN: no signal).
        rules: One set of rules, or one per bar (the walk-forward changes the entry pair at
            each window).
        vol: Per-bar volatility (needed by the cost-aware rule and Kelly sizing).
        allow_entry: Per-bar entry gate (default open).
        periods_per_year: Bars per year for the statistics (inferred when omitted).
    """
    price = close.to_numpy(dtype=np.float64)
    n = price.size
    prob = np.asarray(prob_up, dtype=np.float64)
    vols = np.full(n, math.nan) if vol is None else np.asarray(vol, dtype=np.float64)
    gate = np.ones(n, dtype=bool) if allow_entry is None else np.asarray(allow_entry, bool)
    if not (prob.size == vols.size == gate.size == n):
        raise ValueError(f"prob_up, vol and allow_entry must have {n} values like close")
    per_bar = [rules] * n if isinstance(rules, DecisionRules) else list(rules)
    if len(per_bar) != n:
        raise ValueError(f"rules has {len(per_bar)} entries for {n} bars")
    out = {k: np.zeros(n) for k in ("gross", "turnover", "cost", "target", "edge")}
    reasons: list[str] = []
    state, anchor, w_prev, equity = RiskState(), price[0], 0.0, 1.0
    times = close.index
    # Boxed once, not bar by bar: the decision loop runs ~10^5 times in a selection.
    stamps = times.to_list()
    index = pd.DatetimeIndex(times)
    utc = index.tz_convert("UTC") if index.tz is not None else index
    days = [d.date() for d in utc.normalize().to_pydatetime()]
    for t in range(n):
        rho_before = price[t - 1] / anchor if t else 1.0
        rho_now = price[t] / anchor
        held = w_prev * rho_before / (1.0 + w_prev * (rho_before - 1.0))
        gross = held * (price[t] / price[t - 1] - 1.0) if t else 0.0
        drifted = w_prev * rho_now / (1.0 + w_prev * (rho_now - 1.0))
        bar = BarInput(stamps[t], price[t], prob[t], vols[t], bool(gate[t]), day=days[t])
        decision = decide(bar, drifted, equity * (1.0 + gross), state, per_bar[t])
        equity *= (1.0 + gross) * (1.0 - decision.cost)
        if decision.target != w_prev:
            anchor = price[t]
        w_prev, state = decision.target, decision.state
        for key, value in (("gross", gross), ("turnover", decision.turnover),
                           ("cost", decision.cost), ("target", decision.target),
                           ("edge", decision.edge)):
            out[key][t] = value
        reasons.append(decision.reason)
    return StepwiseResult(_result(close, out, periods_per_year), pd.Series(reasons, times),
                          pd.Series(out["edge"], times), state)


def _result(close: pd.Series, out: dict[str, np.ndarray],
            periods_per_year: float | None) -> BacktestResult:
    ppy = periods_per_year if periods_per_year is not None else infer_periods_per_year(
        close.index)
    net = (1.0 + out["gross"]) * (1.0 - out["cost"]) - 1.0
    index = close.index

    def series(values: np.ndarray, name: str) -> pd.Series:
        return pd.Series(values, index=index, name=name)

    return BacktestResult(
        returns=series(net, "returns"), equity=series(np.cumprod(1.0 + net), "equity"),
        positions=series(out["target"], "position"), turnover=series(out["turnover"], "turnover"),
        trades=int(np.count_nonzero(out["turnover"])),
        stats=compute_stats(net, out["target"], out["turnover"], ppy),
        gross_returns=series(out["gross"], "gross_returns"), costs=series(out["cost"], "costs"))
