"""Direction-ensemble stages: train (purged CV + the gate's holdout), evaluate, register.

Training uses every labelled row except the most recent ``cv.holdout`` (and the rows whose
labels reach into it). Out-of-fold metrics under purged k-fold describe the training rows;
the holdout is what the gate scores this model *and* the current champion on.
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
from alphaloop.cv import check_fold_layout, resolve_embargo, split_recent_holdout
from alphaloop.evaluation import calibration_table, confusion_rows, roc_points
from alphaloop.labels import prepare_target
from alphaloop.models.ensemble import EnsemblePredictor
from alphaloop.models.fitting import ENSEMBLE
from alphaloop.models.metrics import (
    baseline_predictions,
    classification_metrics,
    persistence_signal,
)
from alphaloop.registry.lifecycle import Holdout, pyfunc_loader, window_overlap
from alphaloop.registry.task import Task, feature_set_hash
from alphaloop.workspace import Workspace, write_csv, write_frame, write_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """The labelled rows, split into training rows and the gate's holdout."""

    fit: pd.DataFrame
    holdout: pd.DataFrame

    @property
    def train_end(self) -> pd.Timestamp:
        """The last bar any training label used (``t1`` of the last training row)."""
        return pd.Timestamp(self.fit["t1"].max())

    def bounds(self) -> dict[str, str]:
        return {"train_start": str(self.fit["timestamp"].iloc[0]),
                "train_end": str(self.train_end),
                "holdout_start": str(self.holdout["timestamp"].iloc[0]),
                "holdout_end": str(self.holdout["timestamp"].iloc[-1]),
                "holdout_rows": str(len(self.holdout))}


def split(params: Params, features: pd.DataFrame) -> Split:
    """Label the features and cut the most recent ``cv.holdout`` rows off for the gate."""
    target = params.target
    labelled = prepare_target(features, target.horizon, target.threshold, target.neutral)
    fit, held = split_recent_holdout(labelled, params.cv.holdout)
    return Split(fit.reset_index(drop=True), held.reset_index(drop=True))


def task_of(params: Params, features: pd.DataFrame, columns: list[str]) -> Task:
    """The ensemble's task: market, bar size, horizon and the exact input definition."""
    spec = {"features": params.features.model_dump(mode="json"), "columns": columns,
            "target": params.target.model_dump(mode="json")}
    return Task("ensemble", str(features["symbol"].iloc[0]), str(features["timeframe"].iloc[0]),
                params.target.horizon, feature_set_hash(spec))


@dataclass(frozen=True)
class TrainResult:
    predictor: EnsemblePredictor
    split: Split
    metrics: dict[str, Any]  # model -> OOF metrics, plus "holdout" and "data"


def train(params: Params, features: pd.DataFrame, ws: Workspace | None) -> TrainResult:
    """Purged out-of-fold evaluation and the deployable fit on the training rows."""
    parts = split(params, features)
    labelled = parts.fit
    check_fold_layout(len(labelled), params.cv.n_splits,
                      resolve_embargo(params.embargo_bars, len(labelled)), params.target.horizon,
                      params.embargo_origin())
    up_share = float(labelled["target"].mean())
    log.info("training on %s labelled bars (horizon %d, %.1f%% up) with %s; holdout %s bars "
             "(%s → %s)", f"{len(labelled):,}", params.target.horizon, 100 * up_share,
             ", ".join(params.train.members), f"{len(parts.holdout):,}",
             parts.holdout["timestamp"].iloc[0], parts.holdout["timestamp"].iloc[-1])
    predictor = EnsemblePredictor(params.predictor)
    report = predictor.train(labelled, horizon=params.target.horizon)
    metrics: dict[str, Any] = {name: {k: round(float(v), 6) for k, v in scores.items()}
                               for name, scores in report.metrics.items()}
    holdout = holdout_scores(predictor, parts)
    metrics["holdout"] = {k: {m: round(v, 6) for m, v in s.items()} for k, s in holdout.items()}
    metrics["data"] = {"rows": len(labelled), "up_share": round(up_share, 6),
                       "horizon": params.target.horizon,
                       "features": len(predictor.feature_columns), **parts.bounds()}
    if ws is not None:
        _write(ws, predictor, report, metrics)
    for name in (*params.train.members, ENSEMBLE, "majority", "persistence"):
        s = metrics[name]
        log.info("%-12s accuracy %.4f  balanced %.4f  AUC %.4f  log loss %.4f  (out of fold)",
                 name, s["accuracy"], s["balanced_accuracy"], s["auc"], s["log_loss"])
    for name, s in metrics["holdout"].items():
        log.info("%-12s accuracy %.4f  AUC %.4f  (holdout)", name, s["accuracy"], s["auc"])
    return TrainResult(predictor, parts, metrics)


def _write(ws: Workspace, predictor: EnsemblePredictor, report: Any,
           metrics: dict[str, Any]) -> None:
    from alphaloop.models.onnx_export import export_onnx

    model_dir, onnx_dir = ws.model_dir("ensemble"), ws.model_dir("ensemble_onnx")
    for path in (model_dir, onnx_dir):
        if path.exists():
            shutil.rmtree(path)
    predictor.save(model_dir)
    export_onnx(predictor, onnx_dir)
    write_frame(report.oof, ws.oof_predictions)
    write_json(ws.report("train_metrics"), metrics)
    write_json(ws.metrics("train"), headline(metrics))
    scored = report.oof[report.oof["fold"] >= 0]
    y, p = scored["target"].to_numpy(), scored[ENSEMBLE].to_numpy()
    roc, calibration = roc_points(y, p), calibration_table(y, p)
    confusion = confusion_rows(y, (p >= 0.5).astype(np.int64))
    importance = report.feature_importance.head(30)
    write_csv(roc, ws.plots / "roc.csv")
    write_csv(calibration, ws.plots / "calibration.csv")
    write_csv(confusion, ws.plots / "confusion.csv")
    write_csv(importance, ws.plots / "model_importance.csv")
    plots.roc_png(roc, metrics[ENSEMBLE]["auc"], ws.plots / "roc.png")
    plots.calibration_png(calibration, ws.plots / "calibration.png")
    plots.confusion_png(confusion["actual"], confusion["predicted"], ["down", "up"],
                        ws.plots / "confusion.png", "Ensemble, out-of-fold (P(up) >= 0.5)")
    plots.importance_png(importance, ws.plots / "importance.png")


# The train stage's pictures, logged with the registered model.
TRAIN_PLOTS = ("roc.csv", "calibration.csv", "model_importance.csv", "roc.png",
               "calibration.png", "confusion.png", "importance.png")


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The few numbers ``dvc metrics show`` prints (the rest is in ``train_metrics.json``)."""
    oof, held = metrics[ENSEMBLE], metrics["holdout"]
    return {"oof": {k: oof[k] for k in ("accuracy", "auc", "log_loss")},
            "holdout": {"accuracy": held[ENSEMBLE]["accuracy"], "auc": held[ENSEMBLE]["auc"],
                        "majority_accuracy": held["majority"]["accuracy"]}}


def _baselines(parts: Split, horizon: int) -> dict[str, dict[str, float]]:
    y_fit = parts.fit["target"].to_numpy()
    signal = persistence_signal(parts.fit, horizon)
    held_signal = persistence_signal(parts.holdout, horizon)
    y = parts.holdout["target"].to_numpy()
    return {name: classification_metrics(y, p) for name, p in
            baseline_predictions(y_fit, signal, held_signal).items()}


def holdout_scores(predictor: EnsemblePredictor, parts: Split) -> dict[str, dict[str, float]]:
    """The model and the baselines on the holdout (what ``train_metrics.json`` reports)."""
    y = parts.holdout["target"].to_numpy()
    return {ENSEMBLE: classification_metrics(y, predictor.predict_proba(parts.holdout)),
            **_baselines(parts, int(predictor.horizon or 1))}


def gate_holdout(parts: Split, horizon: int) -> Holdout:
    """The holdout the gate scores challenger and champion on, with the baselines."""
    held = parts.holdout
    y = held["target"].to_numpy()
    start = pd.Timestamp(held["timestamp"].iloc[0])

    def score(predictor: EnsemblePredictor) -> dict[str, float]:
        return classification_metrics(y, predictor.predict_proba(held))

    description = (f"{held['timestamp'].iloc[0]} → {held['timestamp'].iloc[-1]} "
                   f"({len(held):,} bars)")
    return Holdout(description, score, _baselines(parts, horizon), pyfunc_loader("predictor"),
                   window_overlap(start), parts.bounds())


def tune_members(params: Params, features: pd.DataFrame, n_trials: int,
                 timeout: float | None = None) -> Any:
    """Optuna over member hyperparameters, nested in the purged folds of the training rows.

    The gate's holdout is cut off first, so neither tuning nor its estimate ever sees it;
    returns :class:`alphaloop.models.tuning.NestedTuning`.
    """
    from alphaloop.models.tuning import nested_tune

    parts = split(params, features)
    log.info("tuning on %s labelled bars: %d trials in each of %d outer purged folds, then "
             "on all of them", f"{len(parts.fit):,}", n_trials, params.cv.n_splits)
    return nested_tune(params.predictor, parts.fit, n_trials, timeout)
