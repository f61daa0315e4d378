"""The ``evaluate`` stage: walk-forward backtest of the ensemble, with costs, beside buy-and-hold.

At each window the ensemble is refit on the bars before it (minus a gap of the label horizon,
so no training label reaches into the window), predicts only that window, and the decision
rules in :mod:`alphaloop.signals` turn probabilities into positions. Only out-of-sample
windows are reported. With ``risk.cost_aware`` the same predictions are traded a second time
bar by bar with the ``risk:`` rules, the entry rule chosen per window on its training data
(:mod:`alphaloop.trading.selection`), and both results are reported side by side.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from alphaloop import plots
from alphaloop.backtest import periods_per_year_for, walk_forward_backtest
from alphaloop.config import Params
from alphaloop.cv import walk_forward_window
from alphaloop.evaluation import equity_table
from alphaloop.labels import CLASS_DOWN, CLASS_FLAT, CLASS_UP, prepare_target, spans_gap
from alphaloop.models.estimator import EnsembleClassifier
from alphaloop.models.inputs import default_feature_columns
from alphaloop.trading.rules import DecisionRules, rolling_vol
from alphaloop.trading.selection import cost_aware_walk_forward
from alphaloop.workspace import Workspace, write_json

log = logging.getLogger(__name__)


def evaluate(params: Params, features: pd.DataFrame, ws: Workspace | None) -> dict[str, Any]:
    """Walk forward over the labelled features; return (and write) metrics and curves."""
    target = params.target
    # Every bar stays: dropping dead-zone bars would pick trading bars by their future move.
    # Dead-zone labels become NaN instead (not trained on, still traded).
    # Labels crossing a data gap become NaN the same way (the bars are still traded).
    labelled = prepare_target(features, target.horizon, target.threshold, "class",
                              across_gaps="keep")
    labels = labelled["target"].map({CLASS_DOWN: 0.0, CLASS_FLAT: np.nan, CLASS_UP: 1.0})
    labels[spans_gap(features, target.horizon)] = np.nan
    columns = list(params.train.feature_columns or default_feature_columns(labelled))
    timeframe = str(labelled["timeframe"].iloc[0])
    span = (labelled["timestamp"].iloc[0], labelled["timestamp"].iloc[-1])
    ppy = periods_per_year_for(timeframe, params.validate_.session, span=span)
    model = EnsembleClassifier(params.predictor, horizon=target.horizon)
    initial = walk_forward_window(len(labelled), params.cv.walk_forward_initial, target.horizon)
    log.info("walk-forward: first window %d rows, step %d, gap %d bars", initial,
             params.cv.walk_forward_step, target.horizon)
    result = walk_forward_backtest(
        model, labelled, labels, initial,
        params.cv.walk_forward_step, feature_columns=columns, gap=target.horizon,
        params=params.backtest, periods_per_year=ppy)
    gross = float(np.nanprod(1.0 + np.asarray(result.backtest.gross_returns, dtype=float)) - 1.0)
    summary: dict[str, Any] = {
        # Before costs too: separates "no edge" from "an edge the costs eat".
        "strategy_before_costs": {"total_return": round(gross, 6),
                                  "costs_paid": round(float(result.backtest.costs.sum()), 6)},
        "strategy": _rounded(result.backtest.stats),
        "buy_and_hold": _rounded(result.buy_and_hold.stats),
        "windows": {"count": len(result.windows),
                    "mean_accuracy": round(float(result.windows["accuracy"].mean()), 6),
                    "mean_sharpe": round(result.averages[0], 6),
                    "mean_max_drawdown": round(result.averages[1], 6)},
        "out_of_sample": {"first": str(result.predictions.index[0]),
                          "last": str(result.predictions.index[-1]),
                          "bars": len(result.predictions)},
        "costs_bps": params.backtest.fee_bps + params.backtest.slippage_bps,
        "costs": {"preset": params.backtest.costs, "fee_bps": params.backtest.fee_bps,
                  "slippage_bps": params.backtest.slippage_bps,
                  "description": params.backtest.cost_description},
        "annualisation": {"session": params.validate_.session, "periods_per_year": round(ppy, 3)},
    }
    if params.risk.cost_aware:
        summary["strategy_cost_aware"] = _cost_aware(params, labelled, result, ppy)
    if ws is not None:
        write_json(ws.report("backtest_metrics"), summary)
        result.windows.to_csv(ws.reports / "walk_forward.csv", index=False)
        curves = equity_table(result.backtest.equity, result.buy_and_hold.equity)
        ws.plots.mkdir(parents=True, exist_ok=True)
        curves[["timestamp", "strategy", "buy_and_hold"]].to_csv(ws.plots / "equity.csv",
                                                                 index=False)
        curves[["timestamp", "strategy_drawdown", "buy_and_hold_drawdown"]].to_csv(
            ws.plots / "drawdown.csv", index=False)
        plots.equity_png(curves, ws.plots / "equity.png")
    s, b = summary["strategy"], summary["buy_and_hold"]
    log.info("out of sample, after costs: strategy return %+.2f%% (%+.2f%% before costs, %d "
             "trades) Sharpe %.2f max DD %.2f%% | buy-and-hold return %+.2f%% Sharpe %.2f "
             "max DD %.2f%%", 100 * s["total_return"], 100 * gross, s["trades"], s["sharpe"],
             100 * s["max_drawdown"], 100 * b["total_return"], b["sharpe"],
             100 * b["max_drawdown"])
    return summary


def _cost_aware(params: Params, labelled: pd.DataFrame, result: Any, ppy: float
                ) -> dict[str, Any]:
    close = labelled["close"].to_numpy(dtype=np.float64)
    rules = DecisionRules(params.backtest, params.risk, horizon=params.target.horizon)
    traded = cost_aware_walk_forward(result, close, rolling_vol(close, params.risk.vol_window),
                                     rules, ppy)
    out = traded.summary()
    last = traded.choices.iloc[-1]
    multiple = float(last["edge_multiple"])
    # JSON has no infinity: "do not trade" is null, as trader.entry_rule spells it.
    out["latest_choice"] = {"edge_multiple": multiple if np.isfinite(multiple) else None,
                            "hold_fraction": float(last["hold_fraction"])}
    scores = traded.choices["best_pair_score"].to_numpy(dtype=float)
    out["best_pair_score_per_window"] = [round(float(x), 6) if np.isfinite(x) else None
                                         for x in scores]
    log.info("cost-aware rule: return %+.2f%% after costs (%+.2f%% before), %d trades, "
             "%d of %d windows trading", 100 * out["total_return"], 100 * out["before_costs"],
             out["trades"], out["windows_trading"], out["windows"])
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in out.items()}


def _rounded(stats: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v), 6) for k, v in stats.items()}
