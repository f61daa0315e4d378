"""Plot data for evaluation reports: ROC, calibration, confusion matrix, equity, drawdown.

Pure functions returning tidy DataFrames; the stages write them as CSV for ``dvc plots`` and
render PNGs for MLflow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def roc_points(y_true: np.ndarray, proba_up: np.ndarray) -> pd.DataFrame:
    """False- and true-positive rates over all thresholds."""
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = roc_curve(y_true, proba_up)
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": np.nan_to_num(thresholds,
                                                                             posinf=1.0)})


def calibration_table(y_true: np.ndarray, proba_up: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability vs observed frequency of ``up`` per probability bin."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(proba_up, edges[1:-1]), 0, bins - 1)
    frame = pd.DataFrame({"bin": which, "predicted": proba_up, "observed": y_true})
    table = frame.groupby("bin").agg(predicted=("predicted", "mean"),
                                     observed=("observed", "mean"),
                                     count=("observed", "size")).reset_index()
    return table


def confusion_rows(y_true: np.ndarray, y_pred: np.ndarray,
                   labels: tuple[str, str] = ("down", "up")) -> pd.DataFrame:
    """One row per sample with named classes: the layout ``dvc plots`` confusion expects."""
    names = np.asarray(labels)
    return pd.DataFrame({"actual": names[np.asarray(y_true, dtype=int)],
                         "predicted": names[np.asarray(y_pred, dtype=int)]})


def drawdown(equity: pd.Series) -> pd.Series:
    """Fractional drawdown from the running peak, the starting equity of 1 included.

    Matches :func:`alphaloop.backtest.stats.max_drawdown`, so the plotted trough equals the
    reported maximum drawdown.
    """
    peak = equity.cummax().clip(lower=1.0)
    return equity / peak - 1.0


def equity_table(strategy: pd.Series, buy_and_hold: pd.Series) -> pd.DataFrame:
    """Strategy and buy-and-hold equity with their drawdowns on a shared time axis."""
    frame = pd.DataFrame({"strategy": strategy, "buy_and_hold": buy_and_hold})
    frame["strategy_drawdown"] = drawdown(frame["strategy"])
    frame["buy_and_hold_drawdown"] = drawdown(frame["buy_and_hold"])
    frame.index.name = "timestamp"
    return frame.reset_index()
