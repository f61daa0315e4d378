"""The ``train_regime`` stage: the market-regime forecaster, its holdout, its registration.

The held-out windows (the last ``regime.test_fraction`` of time, after a gap) are what the gate
scores this forecaster and the current champion on, beside GARCH(1,1).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alphaloop import plots
from alphaloop.config import Params
from alphaloop.registry.lifecycle import (
    Candidate,
    Holdout,
    Registration,
    RegistryConfig,
    pyfunc_loader,
    register_candidate,
    window_overlap,
)
from alphaloop.registry.lineage import git_commit
from alphaloop.registry.task import Task, feature_set_hash
from alphaloop.registry.tracking import InputData
from alphaloop.stages.lineage import REGIME_SECTIONS, market_tags, model_params
from alphaloop.workspace import Workspace, dir_md5, file_md5, write_csv, write_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegimeResult:
    forecaster: Any  # RegimeForecaster
    metrics: dict[str, Any]


def train(params: Params, bars: pd.DataFrame, ws: Workspace | None) -> RegimeResult:
    """Fit the forecaster on the earlier windows; held-out metrics per forecaster."""
    from alphaloop.models.regime import RegimeForecaster

    forecaster = RegimeForecaster(params=params.regime, use_onnx=True)
    log.info("training the regime forecaster on %s closes", f"{len(bars):,}")
    report = forecaster.fit(bars.set_index("timestamp")["close"])
    table = report.table()
    metrics: dict[str, Any] = {
        str(name): {str(k): round(float(v), 8) for k, v in row.items() if v == v}  # drop NaN
        for name, row in table.to_dict("index").items()}
    metrics["data"] = {"n_train": report.n_train, "n_test": report.n_test, "gap": report.gap,
                       "high_vol_threshold": report.high_vol_threshold,
                       "regime_counts": report.regime_counts}
    if ws is not None:
        model_dir = ws.model_dir("regime")
        if model_dir.exists():
            shutil.rmtree(model_dir)
        forecaster.save(model_dir)
        write_json(ws.report("regime_metrics"), metrics)
        write_json(ws.metrics("regime"), headline(metrics))
        held = report.predictions
        write_csv(held[[c for c in ("timestamp", "realised_vol", "forecast_vol", "garch_vol")
                        if c in held]], ws.plots / "regime_forecast.csv")
        plots.regime_png(held, ws.plots / "regime_forecast.png")
    for name, row in table.iterrows():
        log.info("%-11s return RMSE %.6f  vol RMSE %.6f  direction %.3f (held out)", name,
                 row["return_rmse"], row["vol_rmse"], row["directional_accuracy"])
    return RegimeResult(forecaster, metrics)


# The train_regime stage's pictures, logged with the registered model.
REGIME_PLOTS = ("regime_forecast.csv", "regime_forecast.png")


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The few numbers ``dvc metrics show`` prints (the rest is in ``regime_metrics.json``)."""
    model = metrics["model"]
    return {"vol_rmse": model["vol_rmse"], "garch_vol_rmse": metrics["garch"]["vol_rmse"],
            "return_rmse": model["return_rmse"],
            "directional_accuracy": model["directional_accuracy"]}


def task_of(params: Params, bars: pd.DataFrame) -> Task:
    r = params.regime
    spec = {"context_length": r.context_length, "horizon": r.horizon,
            "test_fraction": r.test_fraction}
    return Task("regime", str(bars["symbol"].iloc[0]), str(bars["timeframe"].iloc[0]),
                r.horizon, feature_set_hash(spec))


def gate_holdout(params: Params, bars: pd.DataFrame,
                 baselines: dict[str, dict[str, float]]) -> Holdout:
    """The test windows of ``bars``: the same for the challenger and the champion."""
    from alphaloop.models.regime.baselines import regression_errors
    from alphaloop.models.regime.data import VOLATILITY, make_windows, time_split

    r = params.regime
    close = bars["close"].to_numpy(dtype=np.float64)
    stamps = pd.to_datetime(bars["timestamp"]).reset_index(drop=True)
    windows = make_windows(close, r.context_length, r.horizon)
    split = time_split(len(windows), r.test_fraction, r.gap)
    test = split.test
    actual = windows.targets[test][:, VOLATILITY]
    start = stamps[int(windows.origins[test[0]])]
    train_end = stamps[int(windows.origins[split.train[-1]]) + r.horizon]

    def score(forecaster: Any) -> dict[str, float]:
        forecast = forecaster.forecast_windows(windows.inputs[test])[:, VOLATILITY]
        return {f"vol_{k}": v for k, v in regression_errors(actual, forecast).items()}

    bounds = {"train_start": str(stamps.iloc[0]), "train_end": str(train_end),
              "holdout_start": str(start), "holdout_end": str(stamps.iloc[-1]),
              "holdout_rows": str(test.size)}
    return Holdout(f"{start} → {stamps.iloc[-1]} ({test.size:,} windows)", score, baselines,
                   pyfunc_loader("forecaster"), window_overlap(start), bounds)


def register_regime(params: Params, bars: pd.DataFrame, result: RegimeResult, ws: Workspace,
                    registry: RegistryConfig, reuse_identical: bool = False) -> Registration:
    """Register the forecaster as its task's challenger and gate it against GARCH.

    ``reuse_identical``: an identical model on the same bars reports its existing version.
    """
    import mlflow
    from mlflow.models import infer_signature

    from alphaloop.registry.pyfunc import RegimePyfunc, regime_frame

    model_dir = ws.model_dir("regime")
    closes = bars["close"].tail(params.regime.context_length + 1)
    example = closes.to_frame().reset_index(drop=True)
    output = regime_frame(result.forecaster, np.asarray(closes, dtype=float))

    def log_model(name: str) -> Any:
        return mlflow.pyfunc.log_model(
            name="model", python_model=RegimePyfunc(), artifacts={"regime": str(model_dir)},
            signature=infer_signature(example, output), input_example=example,
            registered_model_name=name)

    baselines = {k: {m: float(v) for m, v in row.items()}
                 for k, row in result.metrics.items() if k not in ("model", "data")}
    holdout = gate_holdout(params, bars, baselines)
    task = task_of(params, bars)
    data_version = file_md5(ws.validated_bars) if ws.validated_bars.exists() else None
    candidate = Candidate(
        task=task, rule=params.register_.regime, model=result.forecaster,
        holdout=holdout, log_model=log_model,
        params=model_params(params, "regime", REGIME_SECTIONS),
        metrics={"held_out": {k: v for k, v in result.metrics.items() if k != "data"}},
        data_version=data_version, data_path="data/validated/bars.parquet",
        git_commit=git_commit(registry.root), tags=holdout.bounds,
        artifacts={"reports": ws.report("regime_metrics"),
                   "plots": tuple(ws.plots / name for name in REGIME_PLOTS)},
        data=InputData(bars, f"{task.symbol} {task.timeframe} validated bars",
                       "data/validated/bars.parquet", data_version,
                       market_tags(params, bars, ws)),
        lineage_root=registry.root, model_hash=dir_md5(model_dir),
        reuse_identical=reuse_identical)
    registration = register_candidate(candidate, registry)
    write_json(ws.report("regime_registry"), registration.to_dict())
    return registration
