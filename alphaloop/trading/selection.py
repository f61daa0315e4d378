"""Choosing the cost-aware entry rule on training data only, window by window.

For walk-forward window ``k`` the candidates (``risk.edge_multiples`` x
``risk.hold_fractions``, and "do not trade") are each backtested bar by bar over the
out-of-sample predictions of the earlier windows whose decisions and outcomes lie inside
window ``k``'s training span (rows up to its last training row, so the last outcome used is
the close before the gap). The candidate with the highest total return after costs wins;
"do not trade" earns exactly 0, so a pair is chosen only if it made money there, and with
fewer than ``risk.selection_min_bars`` such bars (the first windows) the rule stays flat.
The whole out-of-sample span is then traded as one account with each window's pair.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from alphaloop.backtest.walk_forward import WalkForwardResult
from alphaloop.trading.rules import NO_TRADE, DecisionRules, expected_move
from alphaloop.trading.stepwise import StepwiseResult, run_stepwise


@dataclass(frozen=True)
class EntryChoice:
    edge_multiple: float
    hold_fraction: float
    score: float  # total return after costs over the selection bars (0 for "do not trade")
    bars: int  # selection bars it was judged on
    best_pair_score: float = float("nan")  # the best trading pair's score (NaN: none judged)


def choose_entry_rule(close: pd.Series, prob_up: np.ndarray, vol: np.ndarray,
                      base: DecisionRules, periods_per_year: float) -> EntryChoice:
    """The best (edge multiple, hold fraction) on these bars, or "do not trade"."""
    bars = len(close)
    best = EntryChoice(NO_TRADE, 0.0, 0.0, bars)
    if bars < base.risk.selection_min_bars:
        return best
    top = -np.inf
    lean = 2.0 * np.asarray(prob_up, dtype=np.float64) - 1.0
    lean = np.abs(lean) if base.signal.allow_short else np.maximum(lean, 0.0)
    potential = lean * expected_move(1.0, base.horizon) * np.asarray(vol, dtype=np.float64)
    finite = potential[np.isfinite(potential)]
    largest = float(finite.max()) if finite.size else -np.inf
    for multiple in base.risk.edge_multiples:
        if not largest > multiple * 2.0 * base.cost_rate:
            # No bar's edge clears this hurdle: no entry, no trade, a score of exactly 0
            # for every hold fraction (the same as simulating it, without the work).
            top = max(top, 0.0)
            continue
        for hold in base.risk.hold_fractions:
            rules = replace(base, edge_multiple=multiple, hold_fraction=hold)
            result = run_stepwise(close, prob_up, rules, vol=vol,
                                  periods_per_year=periods_per_year)
            score = float(result.backtest.stats["total_return"])
            top = max(top, score)
            if score > best.score:
                best = EntryChoice(multiple, hold, score, bars)
    return replace(best, best_pair_score=float(top))


@dataclass(frozen=True)
class CostAwareResult:
    """The walk-forward traded with the cost-aware rule, and each window's choice."""

    stepwise: StepwiseResult
    choices: pd.DataFrame  # window, edge_multiple, hold_fraction, score, bars
    max_edge: float = float("nan")  # the largest |2p - 1| E|r_h| of any out-of-sample bar
    round_trip: float = float("nan")  # 2c, the cost an entry's edge is measured against

    def summary(self) -> dict[str, Any]:
        bt = self.stepwise.backtest
        gross = float(np.prod(1.0 + bt.gross_returns.to_numpy()) - 1.0)
        traded = int((self.choices["edge_multiple"] != NO_TRADE).sum())
        # 0.0 + x: a flat book's -0.0 drawdown prints as 0.
        return {"total_return": 0.0 + float(bt.stats["total_return"]),
                "before_costs": 0.0 + gross, "costs_paid": float(bt.costs.sum()),
                "trades": bt.trades, "turnover": float(bt.stats["turnover"]),
                "sharpe": 0.0 + float(bt.stats["sharpe"]),
                "max_drawdown": 0.0 + float(bt.stats["max_drawdown"]),
                "exposure": float(bt.stats["exposure"]),
                "windows_trading": traded, "windows": len(self.choices),
                "max_edge_bps": 1e4 * self.max_edge, "round_trip_bps": 1e4 * self.round_trip}


def cost_aware_walk_forward(result: WalkForwardResult, close: np.ndarray, vol: np.ndarray,
                            base: DecisionRules, periods_per_year: float) -> CostAwareResult:
    """Trade a walk-forward's out-of-sample predictions with per-window cost-aware rules.

    Args:
        result: The walk-forward (its predictions carry each bar's ``row`` and ``window``).
        close: Close per row of the frame the walk-forward ran on.
        vol: Per-row volatility (:func:`alphaloop.trading.rolling_vol` on ``close``).
        base: The rules; the entry pair is replaced per window.
        periods_per_year: Bars per year.
    """
    preds = result.predictions
    rows = preds["row"].to_numpy()
    prob = preds["prob_up"].to_numpy(dtype=np.float64)
    oos_close = pd.Series(close[rows], index=preds.index, name="close")
    oos_vol = vol[rows]
    per_bar: list[DecisionRules] = []
    choices = []
    for window, last_train, n_test in zip(result.windows["window"],
                                          result.windows["train_last_row"],
                                          result.windows["n_test"], strict=True):
        seen = rows <= last_train  # decisions and outcomes inside its training span
        choice = choose_entry_rule(oos_close[seen], prob[seen], oos_vol[seen], base,
                                   periods_per_year)
        rules = replace(base, edge_multiple=choice.edge_multiple,
                        hold_fraction=choice.hold_fraction)
        per_bar.extend([rules] * int(n_test))
        choices.append({"window": int(window), **choice.__dict__})
    stepwise = run_stepwise(oos_close, prob, per_bar, vol=oos_vol,
                            periods_per_year=periods_per_year)
    potential = np.abs(2.0 * prob - 1.0) * expected_move(1.0, base.horizon) * oos_vol
    finite = potential[np.isfinite(potential)]
    return CostAwareResult(stepwise, pd.DataFrame(choices),
                           float(finite.max()) if finite.size else float("nan"),
                           2.0 * base.cost_rate)
