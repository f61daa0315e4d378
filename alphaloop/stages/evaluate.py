"""The ``backtest`` stage: trade the walk-forward's predictions with costs, beside buy-and-hold.

The predictions come from the ``walk_forward`` stage (:mod:`alphaloop.stages.walk_forward`);
the decision rules in :mod:`alphaloop.signals` turn them into positions and only
out-of-sample windows are reported. With ``risk.cost_aware`` the same predictions are traded
a second time bar by bar with the ``risk:`` rules, the entry rule chosen per window on its
training data (:mod:`alphaloop.trading.selection`), and both results are reported side by
side. Nothing is retrained here, so a cost or threshold change costs seconds.

:func:`evaluate` runs both stages in one go (the retraining flow and ``alphaloop backtest``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alphaloop import plots
from alphaloop.backtest import WalkForwardResult, periods_per_year_for, trade_walk_forward
from alphaloop.config import Params
from alphaloop.evaluation import equity_table
from alphaloop.registry.lifecycle import RegistryConfig
from alphaloop.registry.lineage import params_hash
from alphaloop.registry.tracking import InputData, log_contents, run_name
from alphaloop.stages.lineage import ENSEMBLE_SECTIONS, market_tags, model_params
from alphaloop.stages.walk_forward import WalkForwardPredictions, labelled_bars, walk_forward
from alphaloop.tearsheet import tear_sheet_html
from alphaloop.trading.rules import DecisionRules, rolling_vol
from alphaloop.trading.selection import cost_aware_walk_forward
from alphaloop.workspace import Workspace, file_md5, write_csv, write_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BacktestOutcome:
    """What the backtest found: the summary (``backtest_metrics.json``) and the curves."""

    summary: dict[str, Any]
    result: WalkForwardResult
    curves: pd.DataFrame  # timestamp, strategy, buy_and_hold and their drawdowns


def evaluate(params: Params, features: pd.DataFrame, ws: Workspace | None) -> dict[str, Any]:
    """Walk forward (retraining each window) and backtest; return (and write) the summary."""
    return backtest(params, features, walk_forward(params, features, ws), ws).summary


def backtest(params: Params, features: pd.DataFrame, predicted: WalkForwardPredictions,
             ws: Workspace | None) -> BacktestOutcome:
    """Trade kept walk-forward predictions; return (and write) metrics, curves, tear sheet."""
    labelled, _ = labelled_bars(params, features)
    timeframe = str(labelled["timeframe"].iloc[0])
    span = (labelled["timestamp"].iloc[0], labelled["timestamp"].iloc[-1])
    ppy = periods_per_year_for(timeframe, params.validate_.session, span=span)
    close = labelled["close"].to_numpy(dtype=np.float64)
    result = trade_walk_forward(predicted.windows, predicted.predictions, close,
                                params=params.backtest, periods_per_year=ppy)
    summary = _summary(params, result, ppy)
    if params.risk.cost_aware:
        summary["strategy_cost_aware"] = _cost_aware(params, close, result, ppy)
    curves = equity_table(result.backtest.equity, result.buy_and_hold.equity)
    if ws is not None:
        _write(ws, summary, result, curves, f"{labelled['symbol'].iloc[0]} {timeframe}")
    s, b = summary["strategy"], summary["buy_and_hold"]
    log.info("out of sample, after costs: strategy return %+.2f%% (%+.2f%% before costs, %d "
             "trades) Sharpe %.2f max DD %.2f%% | buy-and-hold return %+.2f%% Sharpe %.2f "
             "max DD %.2f%%", 100 * s["total_return"],
             100 * summary["strategy_before_costs"]["total_return"], s["trades"], s["sharpe"],
             100 * s["max_drawdown"], 100 * b["total_return"], b["sharpe"],
             100 * b["max_drawdown"])
    return BacktestOutcome(summary, result, curves)


def _summary(params: Params, result: WalkForwardResult, ppy: float) -> dict[str, Any]:
    gross = float(np.nanprod(1.0 + np.asarray(result.backtest.gross_returns, dtype=float)) - 1.0)
    return {
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


def headline(summary: dict[str, Any]) -> dict[str, Any]:
    """The few numbers ``dvc metrics show`` / ``dvc exp show`` print (details stay in
    ``backtest_metrics.json``)."""
    keys = ("total_return", "sharpe", "max_drawdown", "trades")
    out = {"strategy": {k: summary["strategy"][k] for k in keys},
           "buy_and_hold": {k: summary["buy_and_hold"][k] for k in keys[:3]},
           "costs_bps": summary["costs_bps"]}
    aware = summary.get("strategy_cost_aware")
    if aware:
        out["cost_aware"] = {k: aware[k] for k in ("total_return", "trades")}
    return out


def record_backtest(params: Params, features: pd.DataFrame, outcome: BacktestOutcome,
                    ws: Workspace, registry: RegistryConfig) -> str:
    """Log the backtest as an MLflow run (params, strategy and buy-and-hold metrics, the
    predictions it traded as its input dataset, tear sheet and plots, ``params.yaml`` and
    ``dvc.lock``); return its run id."""
    import mlflow

    registry.connect()
    symbol, timeframe = str(features["symbol"].iloc[0]), str(features["timeframe"].iloc[0])
    summary = outcome.summary
    recipe = model_params(params, "ensemble", ENSEMBLE_SECTIONS)
    data_version = file_md5(ws.features) if ws.features.exists() else None
    predictions = ws.walk_forward_predictions
    what = f"backtest {symbol} {timeframe} h{params.target.horizon}"
    with mlflow.start_run(run_name=run_name(what, summary["out_of_sample"]["last"])) as run:
        log_contents(
            params={**recipe, **params.model_dump(mode="json", include={"backtest", "risk"})},
            metrics={k: summary[k] for k in ("strategy", "strategy_before_costs", "buy_and_hold",
                                             "strategy_cost_aware", "windows") if k in summary},
            tags={"alphaloop.kind": "backtest", "symbol": symbol, "timeframe": timeframe,
                  "data_version": data_version or "unknown", "params_hash": params_hash(recipe)},
            data=InputData(outcome.result.predictions.reset_index(),
                           f"{symbol} {timeframe} walk-forward predictions",
                           "data/predictions/walk_forward.parquet",
                           file_md5(predictions) if predictions.exists() else None,
                           {**market_tags(params, features, ws),
                            "features_version": data_version or "unknown"}),
            artifacts={"tear_sheet": ws.tear_sheet,
                       "reports": (ws.report("backtest_metrics"), ws.reports / "walk_forward.csv"),
                       "plots": tuple(ws.plots / name for name in BACKTEST_PLOTS)},
            root=registry.root)
        run_id: str = run.info.run_id
    log.info("backtest logged to MLflow: run %s (%s)", run_id, what)
    return run_id


# The backtest stage's pictures, logged with its MLflow run.
BACKTEST_PLOTS = ("equity.csv", "drawdown.csv", "equity.png")


def _write(ws: Workspace, summary: dict[str, Any], result: WalkForwardResult,
           curves: pd.DataFrame, market: str) -> None:
    write_json(ws.report("backtest_metrics"), summary)
    write_json(ws.metrics("backtest"), headline(summary))
    write_csv(result.windows, ws.reports / "walk_forward.csv")
    write_csv(curves[["timestamp", "strategy", "buy_and_hold"]], ws.plots / "equity.csv")
    write_csv(curves[["timestamp", "strategy_drawdown", "buy_and_hold_drawdown"]],
              ws.plots / "drawdown.csv")
    plots.equity_png(curves, ws.plots / "equity.png")
    ws.tear_sheet.write_text(tear_sheet_html(curves, summary, result.windows, market))


def _cost_aware(params: Params, close: np.ndarray, result: WalkForwardResult, ppy: float
                ) -> dict[str, Any]:
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
