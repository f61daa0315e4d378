"""The ``walk_forward`` stage: retrain the ensemble window by window and keep its predictions.

At each window the ensemble is refit on the bars before it (minus a gap of the label horizon,
so no training label reaches into the window) and predicts only that window. Nothing here
depends on costs or decision rules: the ``backtest`` stage trades these predictions, so a
cost or threshold change re-runs only the backtest (seconds), not the retraining.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alphaloop.backtest import walk_forward_predict
from alphaloop.config import Params
from alphaloop.cv import walk_forward_window
from alphaloop.labels import CLASS_DOWN, CLASS_FLAT, CLASS_UP, prepare_target, spans_gap
from alphaloop.models.estimator import EnsembleClassifier
from alphaloop.models.inputs import default_feature_columns
from alphaloop.workspace import Workspace, write_frame, write_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WalkForwardPredictions:
    """Per-window training/test spans and one out-of-sample prediction per bar.

    Attributes:
        windows: ``window``, test and training spans (``train_last_row``, ``n_test``, ...),
            ``accuracy`` (see :func:`alphaloop.backtest.walk_forward_predict`).
        predictions: Indexed by timestamp: ``row`` (position in :func:`labelled_bars`),
            ``window``, ``prob_up``, ``predicted``, ``label``.
    """

    windows: pd.DataFrame
    predictions: pd.DataFrame

    @classmethod
    def from_frames(cls, windows: pd.DataFrame, predictions: pd.DataFrame
                    ) -> WalkForwardPredictions:
        """From the files the stage writes (the predictions' index is a column there)."""
        return cls(windows, predictions.set_index("timestamp"))


def labelled_bars(params: Params, features: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Every bar with its 0/1 label; NaN where the label is unknown.

    Every bar stays: dropping dead-zone bars would pick trading bars by their future move.
    Dead-zone labels and labels crossing a data gap become NaN instead (not trained on,
    still traded).
    """
    target = params.target
    labelled = prepare_target(features, target.horizon, target.threshold, "class",
                              across_gaps="keep")
    labels = labelled["target"].map({CLASS_DOWN: 0.0, CLASS_FLAT: np.nan, CLASS_UP: 1.0})
    labels[spans_gap(features, target.horizon)] = np.nan
    return labelled, labels


def walk_forward(params: Params, features: pd.DataFrame,
                 ws: Workspace | None) -> WalkForwardPredictions:
    """Fit per window and predict the next one; write the windows and predictions."""
    labelled, labels = labelled_bars(params, features)
    columns = list(params.train.feature_columns or default_feature_columns(labelled))
    model = EnsembleClassifier(params.predictor, horizon=params.target.horizon)
    initial = walk_forward_window(len(labelled), params.cv.walk_forward_initial,
                                  params.target.horizon)
    log.info("walk-forward: first window %d rows, step %d, gap %d bars", initial,
             params.cv.walk_forward_step, params.target.horizon)
    windows, predictions = walk_forward_predict(
        model, labelled, labels, initial, params.cv.walk_forward_step, feature_columns=columns,
        gap=params.target.horizon)
    report = {"windows": len(windows), "initial_rows": initial,
              "step": params.cv.walk_forward_step, "gap": params.target.horizon,
              "out_of_sample": {"first": str(predictions.index[0]),
                                "last": str(predictions.index[-1]), "bars": len(predictions)},
              "mean_accuracy": round(float(windows["accuracy"].mean()), 6)}
    if ws is not None:
        write_frame(windows, ws.walk_forward_windows)
        write_frame(predictions.reset_index(), ws.walk_forward_predictions)
        write_json(ws.report("walk_forward"), report)
    log.info("walk-forward: %d windows, %s out-of-sample bars (%s → %s), mean accuracy %.4f",
             len(windows), f"{len(predictions):,}", predictions.index[0],
             predictions.index[-1], report["mean_accuracy"])
    return WalkForwardPredictions(windows, predictions)
