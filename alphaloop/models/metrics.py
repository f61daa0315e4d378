"""Out-of-sample classification metrics and the two naive baselines a model must beat.

Baselines:

- **majority**: the majority class of the *training* labels, with the training base rate as
  its constant ``P(up)``.
- **persistence**: "the next ``horizon``-bar move repeats the last one": up when the past
  ``horizon``-bar return was positive (a zero return counts as down, like the labels' tie
  rule). Its ``P(up)`` is the rule's training hit rate ``h`` (clipped to ``[0.501, 0.99]``, so
  the rule keeps its direction even when it was worse than chance and never claims
  certainty) for "up" and ``1 - h`` for "down"; rows with no past return (the first bars)
  get the training base rate.

Everything a baseline learns (base rate, hit rate) comes from training rows only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alphaloop.labels import past_return

METRIC_NAMES: tuple[str, ...] = (
    "accuracy", "balanced_accuracy", "auc", "log_loss", "brier", "n",
)
# Hit-rate bounds of the persistence baseline (see the module docstring).
_MIN_HIT, _MAX_HIT = 0.501, 0.99
_EPS = 1e-15


def classification_metrics(y_true: np.ndarray | pd.Series,
                           proba_up: np.ndarray | pd.Series) -> dict[str, float]:
    """Accuracy, balanced accuracy, ROC AUC, log loss and Brier score of ``P(up)``.

    The predicted class is up when ``proba_up >= 0.5``. AUC is NaN when ``y_true`` holds a
    single class; balanced accuracy then averages the recall of the classes present.

    Args:
        y_true: 0/1 labels.
        proba_up: Predicted probabilities of label 1, same length.

    Returns:
        ``accuracy, balanced_accuracy, auc, log_loss, brier, n`` as floats.

    Raises:
        ValueError: On empty or mismatched inputs, labels other than 0/1 or probabilities
            outside ``[0, 1]``.
    """
    y = np.asarray(y_true)
    p = np.asarray(proba_up, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1 or y.size == 0:
        raise ValueError(f"y_true and proba_up must be equal-length 1-D arrays, got "
                         f"{y.shape} and {p.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must hold 0/1 labels")
    if not (np.isfinite(p).all() and p.min() >= 0.0 and p.max() <= 1.0):
        raise ValueError("proba_up must be finite probabilities in [0, 1]")
    y = y.astype(np.int64)
    pred = (p >= 0.5).astype(np.int64)
    recalls = [float((pred[y == c] == c).mean()) for c in (0, 1) if (y == c).any()]
    clipped = np.clip(p, _EPS, 1.0 - _EPS)
    log_loss = -np.mean(y * np.log(clipped) + (1 - y) * np.log1p(-clipped))
    return {
        "accuracy": float((pred == y).mean()),
        "balanced_accuracy": float(np.mean(recalls)),
        "auc": _auc(y, p),
        "log_loss": float(log_loss),
        "brier": float(np.mean((p - y) ** 2)),
        "n": float(y.size),
    }


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    if np.unique(y).size < 2:
        return float("nan")
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def persistence_signal(frame: pd.DataFrame, horizon: int) -> np.ndarray:
    """Whether each row's past ``horizon``-bar return was positive: 1.0, 0.0 or NaN (unknown).

    With ``timestamp`` and ``t1`` columns the return is taken exactly from the row whose label
    ends at this row's bar (``t1[j] == timestamp[t]``, i.e. the bar ``horizon`` bars back),
    which stays right when ``prepare_target`` dropped dead-zone rows; such a dropped
    predecessor leaves the signal unknown. Without them ``close`` is shifted back by
    ``horizon`` rows. Only closes at or before each row are used.

    Args:
        frame: Rows in time order with ``close`` (and optionally ``timestamp``, ``t1``).
        horizon: Bars back.

    Returns:
        A float array, one value per row.
    """
    close = frame["close"].to_numpy(dtype=np.float64)
    if not {"timestamp", "t1"} <= set(frame.columns):
        past = past_return(close, horizon).to_numpy()
    else:
        # Row j's label ends at bar t1[j]; the row stamped t1[j] is j's successor by horizon.
        successor = pd.Index(frame["timestamp"]).get_indexer(pd.Index(frame["t1"]))
        source = np.full(close.size, -1)
        found = successor >= 0
        source[successor[found]] = np.flatnonzero(found)
        past = np.full(close.size, np.nan)
        known = source >= 0
        past[known] = np.log(close[known] / close[source[known]])
    return np.where(np.isnan(past), np.nan, (past > 0).astype(np.float64))


def baseline_predictions(y_train: np.ndarray, signal_train: np.ndarray,
                         signal_test: np.ndarray) -> dict[str, np.ndarray]:
    """``P(up)`` of the majority and persistence baselines on test rows, fit on training rows.

    Args:
        y_train: Training labels (0/1).
        signal_train: ``persistence_signal`` of the training rows.
        signal_test: ``persistence_signal`` of the test rows.

    Returns:
        ``{"majority": ..., "persistence": ...}``, each of shape ``signal_test.shape``.
    """
    y = np.asarray(y_train, dtype=np.float64)
    if y.size == 0:
        raise ValueError("baselines need at least one training label")
    base_rate = float(y.mean())
    known = ~np.isnan(signal_train)
    hits = (signal_train[known] == y[known]).mean() if known.any() else _MIN_HIT
    hit = float(np.clip(hits, _MIN_HIT, _MAX_HIT))
    persistence = np.where(signal_test == 1.0, hit, 1.0 - hit)
    persistence = np.where(np.isnan(signal_test), base_rate, persistence)
    return {
        "majority": np.full(signal_test.shape, base_rate),
        "persistence": persistence,
    }
