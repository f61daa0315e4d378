"""DVC stage ``train``: labels, purged out-of-fold evaluation, the deployable ensemble, ONNX.

Every metric written here is out of sample (out-of-fold under purged, embargoed k-fold) and
sits beside the majority-class and persistence baselines.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from alphaloop.config import Params, load_params
from alphaloop.evaluation import calibration_table, confusion_rows, roc_points
from alphaloop.labels import prepare_target
from alphaloop.models.ensemble import EnsemblePredictor
from alphaloop.models.fitting import ENSEMBLE
from alphaloop.models.onnx_export import export_onnx
from pipelines import plots
from pipelines.common import (
    FEATURES,
    MODEL_DIR,
    ONNX_DIR,
    OOF_PREDICTIONS,
    PLOTS,
    TRAIN_METRICS,
    read_frame,
    run_stage,
    write_frame,
    write_json,
)

log = logging.getLogger(__name__)


def run(params: Params, features_path: Path = FEATURES) -> dict[str, Any]:
    """Train and evaluate the ensemble; write the model, ONNX files, metrics and plots."""
    target = params.target
    labelled = prepare_target(read_frame(features_path), target.horizon, target.threshold,
                              target.neutral)
    up_share = float(labelled["target"].mean())
    log.info("training on %s labelled bars (horizon %d, %.1f%% up) with %s",
             f"{len(labelled):,}", target.horizon, 100 * up_share,
             ", ".join(params.train.members))
    predictor = EnsemblePredictor(params.predictor)
    report = predictor.train(labelled, horizon=target.horizon)
    for path in (MODEL_DIR, ONNX_DIR):
        if path.exists():
            shutil.rmtree(path)
    predictor.save(MODEL_DIR)
    export_onnx(predictor, ONNX_DIR)
    write_frame(report.oof, OOF_PREDICTIONS)

    metrics: dict[str, Any] = {name: {k: round(float(v), 6) for k, v in scores.items()}
                               for name, scores in report.metrics.items()}
    write_json(TRAIN_METRICS, {**metrics, "data": {
        "rows": len(labelled), "up_share": round(up_share, 6), "horizon": target.horizon,
        "features": len(predictor.feature_columns)}})
    _write_plots(report.oof, report.feature_importance, metrics[ENSEMBLE]["auc"])
    for name in (*params.train.members, ENSEMBLE, "majority", "persistence"):
        scores = metrics[name]
        log.info("%-12s accuracy %.4f  balanced %.4f  AUC %.4f  log loss %.4f  (out of fold)",
                 name, scores["accuracy"], scores["balanced_accuracy"], scores["auc"],
                 scores["log_loss"])
    return metrics


def _write_plots(oof: Any, importance: Any, auc: float) -> None:
    PLOTS.mkdir(parents=True, exist_ok=True)
    scored = oof[oof["fold"] >= 0]
    y, p = scored["target"].to_numpy(), scored[ENSEMBLE].to_numpy()
    roc = roc_points(y, p)
    calibration = calibration_table(y, p)
    roc.to_csv(PLOTS / "roc.csv", index=False)
    calibration.to_csv(PLOTS / "calibration.csv", index=False)
    confusion_rows(y, (p >= 0.5).astype(np.int64)).to_csv(PLOTS / "confusion.csv", index=False)
    importance.head(30).to_csv(PLOTS / "model_importance.csv", index=False)
    plots.roc_png(roc, auc, PLOTS / "roc.png")
    plots.calibration_png(calibration, PLOTS / "calibration.png")


def main() -> None:
    run_stage(lambda: run(load_params()))


if __name__ == "__main__":
    main()
