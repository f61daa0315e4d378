"""Walk-forward backtest of a probabilistic classifier: retrain, predict ahead, trade.

Rows are bars in time order, addressed by position. With ``initial_window=W``, ``step=S``
and ``gap=G``, window ``k`` tests rows ``[W + kS, W + (k+1)S)``; its model is a fresh clone
of ``model`` fitted on the labelled rows before ``W + kS - G`` (all of them, or the last
``train_window``). A label built from ``close[t + h]`` reaches ``h`` bars ahead, so
``gap >= h`` keeps every training label out of the test window. Only the test rows are
predicted, so every prediction is out of sample; the predictions become positions with
:func:`alphaloop.signals.target_positions` and the whole out-of-sample span is backtested
as one account (positions carry across window boundaries, so switching costs are real).

Per-window statistics attribute returns to decisions: a decision at bar ``t`` pays its
order's cost at ``t`` and earns the move to ``t + 1``. Compounding the windows' total
returns therefore gives the overall out-of-sample total return.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alphaloop import progress
from alphaloop.backtest.engine import BacktestResult, Rebalance, buy_and_hold, run_backtest
from alphaloop.backtest.stats import compute_stats, infer_periods_per_year
from alphaloop.signals import BacktestParams, target_positions


@dataclass(frozen=True)
class WalkForwardResult:
    """Outcome of :func:`walk_forward_backtest`.

    Attributes:
        windows: One row per window: ``window``, test span (``window_start``,
            ``window_end``, ``test_first_row``, ``n_test``), training span (``train_start``,
            ``train_end``, ``train_last_row``, ``n_train``), ``accuracy`` of the predicted
            class on labelled test rows, every backtest statistic of the window's decisions
            and ``buy_hold_return`` over the same bars.
        predictions: One row per out-of-sample bar, indexed by timestamp: ``row``,
            ``window``, ``prob_up``, ``position``, ``predicted`` and ``label``.
        backtest: The out-of-sample backtest, all windows as one account.
        buy_and_hold: Buy-and-hold over the same out-of-sample bars and costs.
    """

    windows: pd.DataFrame
    predictions: pd.DataFrame
    backtest: BacktestResult
    buy_and_hold: BacktestResult

    @property
    def averages(self) -> tuple[float, float]:
        """``(average Sharpe, average max drawdown)`` across windows."""
        return float(self.windows["sharpe"].mean()), float(self.windows["max_drawdown"].mean())

    @property
    def average_stats(self) -> dict[str, float]:
        """Mean across windows of every numeric per-window column."""
        numeric = self.windows.select_dtypes("number").drop(columns=["window"])
        return {str(k): float(v) for k, v in numeric.mean().items()}


def walk_forward_backtest(
    model: Any,
    features: pd.DataFrame,
    labels: pd.Series,
    initial_window: int = 200,
    step: int = 50,
    *,
    feature_columns: list[str],
    gap: int,
    close: pd.Series | None = None,
    params: BacktestParams | None = None,
    periods_per_year: float | None = None,
    train_window: int | None = None,
    up_label: Any = None,
    rebalance: Rebalance = "on_change",
) -> WalkForwardResult:
    """Walk-forward retrain, predict and backtest (see the module docstring).

    Args:
        model: Any classifier with ``fit(X, y)`` and ``predict_proba(X)`` (and ``classes_``);
            cloned with ``sklearn.base.clone`` (or deep-copied) for every window.
        features: One row per bar in time order, with a ``timestamp`` column or a
            DatetimeIndex, and the feature columns.
        labels: One label per row of ``features`` (matched by position); NaN rows are not
            trained on. Keep every bar in ``features`` (mark unusable labels, such as a
            dead zone, NaN rather than dropping rows): the backtest trades the rows given.
        initial_window: Rows before the first test window.
        step: Rows per test window (and between retrains).
        feature_columns: Columns the model sees.
        gap: Rows dropped between training and test, at least the label horizon.
        close: Close per row (by position, or by timestamp for a DatetimeIndex); defaults
            to ``features["close"]``.
        params: Decision rules and costs; defaults to ``BacktestParams()``.
        periods_per_year: Bars per year; inferred from the timestamps when omitted.
        train_window: Train on at most this many rows before the gap (rolling window);
            ``None`` trains on all earlier rows (expanding window).
        up_label: The class whose probability is P(up); defaults to the largest class.
        rebalance: See :func:`alphaloop.backtest.run_backtest`.

    Returns:
        Per-window statistics, out-of-sample predictions, the out-of-sample backtest and
        buy-and-hold over the same bars.

    Raises:
        ValueError: On inconsistent inputs or a training window without two classes.
    """
    _check_windows(len(features), len(labels), initial_window, step, gap, train_window)
    timestamps = _timestamps(features)
    prices = _close_values(features, close, timestamps)
    ppy = periods_per_year if periods_per_year is not None else infer_periods_per_year(timestamps)
    windows, preds = walk_forward_predict(
        model, features, labels, initial_window, step, feature_columns=feature_columns,
        gap=gap, train_window=train_window, up_label=up_label)
    return trade_walk_forward(windows, preds, prices, params=params, periods_per_year=ppy,
                              rebalance=rebalance)


def walk_forward_predict(
    model: Any,
    features: pd.DataFrame,
    labels: pd.Series,
    initial_window: int,
    step: int,
    *,
    feature_columns: list[str],
    gap: int,
    train_window: int | None = None,
    up_label: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The retraining half of :func:`walk_forward_backtest`: fit per window, predict ahead.

    Nothing here depends on costs or decision rules, so a pipeline can keep these
    predictions and re-trade them (:func:`trade_walk_forward`) when only those change.
    Each finished window is reported to :mod:`alphaloop.progress`.

    Returns:
        ``(windows, predictions)``: the per-window table without statistics (``window``,
        test and training spans, ``accuracy``) and one row per out-of-sample bar indexed by
        timestamp (``row``, ``window``, ``prob_up``, ``predicted``, ``label``).
    """
    n = len(features)
    _check_windows(n, len(labels), initial_window, step, gap, train_window)
    timestamps = _timestamps(features)
    missing = [c for c in feature_columns if c not in features.columns]
    if not feature_columns or missing:
        raise ValueError(f"feature_columns must name columns of features; missing {missing}")
    X = features[feature_columns]
    y = labels.to_numpy()
    rows: list[dict[str, Any]] = []
    predictions: list[pd.DataFrame] = []
    starts = range(initial_window, n, step)
    progress.report("walk-forward windows", 0, len(starts))
    for k, start in enumerate(starts):
        end = min(start + step, n)
        begin = 0 if train_window is None else max(0, start - gap - train_window)
        train = np.arange(begin, start - gap)
        train = train[~pd.isna(y[train])]
        fitted = _fit(model, X.iloc[train], _as_labels(y[train]), k)
        prob, predicted = _predict(fitted, X.iloc[start:end], up_label)
        predictions.append(pd.DataFrame({
            "row": np.arange(start, end), "window": k, "prob_up": prob,
            "predicted": predicted, "label": y[start:end],
        }, index=timestamps[start:end]))
        rows.append({
            "window": k, "window_start": timestamps[start], "window_end": timestamps[end - 1],
            "test_first_row": start, "n_test": end - start,
            "train_start": timestamps[train[0]], "train_end": timestamps[train[-1]],
            "train_last_row": int(train[-1]), "n_train": train.size,
            "accuracy": _accuracy(predicted, y[start:end]),
        })
        progress.report("walk-forward windows", k + 1, len(starts))
    preds = pd.concat(predictions)
    preds.index.name = "timestamp"
    return pd.DataFrame(rows), preds


def trade_walk_forward(
    windows: pd.DataFrame,
    predictions: pd.DataFrame,
    close: np.ndarray,
    *,
    params: BacktestParams | None = None,
    periods_per_year: float | None = None,
    rebalance: Rebalance = "on_change",
) -> WalkForwardResult:
    """The trading half of :func:`walk_forward_backtest`, from kept predictions.

    Args:
        windows: The window table :func:`walk_forward_predict` returned.
        predictions: Its predictions (indexed by timestamp, with ``row`` and ``prob_up``).
        close: Close per row of the frame the predictions were made on (by position).
        params: Decision rules and costs; defaults to ``BacktestParams()``.
        periods_per_year: Bars per year; inferred from the timestamps when omitted.
        rebalance: See :func:`alphaloop.backtest.run_backtest`.
    """
    params = params if params is not None else BacktestParams()
    preds = predictions.drop(columns=["position"], errors="ignore")
    timestamps = pd.DatetimeIndex(preds.index, name="timestamp")
    ppy = periods_per_year if periods_per_year is not None else infer_periods_per_year(timestamps)
    preds.insert(3, "position", target_positions(preds["prob_up"].to_numpy(), params))
    first = int(preds["row"].iloc[0])
    oos_close = pd.Series(np.asarray(close, dtype=np.float64)[first:first + len(preds)],
                          index=timestamps, name="close")
    costs = (params.fee_bps, params.slippage_bps, ppy)
    result = run_backtest(oos_close, preds["position"].to_numpy(), *costs, rebalance=rebalance)
    table = windows[[c for c in WINDOW_COLUMNS if c in windows.columns]].reset_index(drop=True)
    stats = _window_stats(table, result, oos_close.to_numpy(), first, ppy)
    return WalkForwardResult(stats, preds, result, buy_and_hold(oos_close, *costs))


# The window table's own columns; statistics are added by trade_walk_forward.
WINDOW_COLUMNS = ("window", "window_start", "window_end", "test_first_row", "n_test",
                  "train_start", "train_end", "train_last_row", "n_train", "accuracy")


def _check_windows(
    n: int, n_labels: int, initial_window: int, step: int, gap: int, train_window: int | None
) -> None:
    if n_labels != n:
        raise ValueError(f"labels has {n_labels} rows, features has {n}")
    if step < 1 or gap < 0:
        raise ValueError(f"step must be >= 1 and gap >= 0, got step={step}, gap={gap}")
    if not gap < initial_window < n:
        raise ValueError(
            f"initial_window must exceed gap ({gap}) and leave test rows (features has {n} "
            f"rows), got {initial_window}"
        )
    if train_window is not None and train_window < 1:
        raise ValueError(f"train_window must be >= 1, got {train_window}")


def _timestamps(features: pd.DataFrame) -> pd.DatetimeIndex:
    if "timestamp" in features.columns:
        ts = pd.DatetimeIndex(features["timestamp"], name="timestamp")
    elif isinstance(features.index, pd.DatetimeIndex):
        ts = features.index.rename("timestamp")
    else:
        raise ValueError("features need a 'timestamp' column or a DatetimeIndex")
    if not ts.is_monotonic_increasing or not ts.is_unique:
        raise ValueError("timestamps must be strictly increasing")
    return ts


def _close_values(
    features: pd.DataFrame, close: pd.Series | None, timestamps: pd.DatetimeIndex
) -> np.ndarray:
    if close is None:
        if "close" not in features.columns:
            raise ValueError("pass close, or include a 'close' column in features")
        return features["close"].to_numpy(dtype=np.float64)
    if len(close) == len(features) and not isinstance(close.index, pd.DatetimeIndex):
        return close.to_numpy(dtype=np.float64)
    if isinstance(close.index, pd.DatetimeIndex):
        values = close.reindex(timestamps).to_numpy(dtype=np.float64)
        if np.isnan(values).any():
            raise ValueError("close has no price for some feature timestamps")
        return values
    raise ValueError("close must match features by position or be indexed by timestamp")


def _as_labels(y: np.ndarray) -> np.ndarray:
    # Labels read from a frame with NaN rows arrive as floats; classes stay integers.
    if y.dtype.kind == "f" and np.all(np.mod(y, 1.0) == 0.0):
        return y.astype(np.int64)
    return y


def _fit(model: Any, X: pd.DataFrame, y: np.ndarray, window: int) -> Any:
    if len(np.unique(y)) < 2:
        raise ValueError(
            f"window {window}: training rows hold {len(np.unique(y))} class(es), need two"
        )
    try:
        from sklearn.base import clone

        fresh = clone(model)
    except (ImportError, TypeError):
        fresh = copy.deepcopy(model)
    fresh.fit(X, y)
    return fresh


def _predict(fitted: Any, X: pd.DataFrame, up_label: Any) -> tuple[np.ndarray, np.ndarray]:
    proba = np.asarray(fitted.predict_proba(X), dtype=np.float64)
    classes = np.asarray(getattr(fitted, "classes_", np.arange(proba.shape[1])))
    up = classes.max() if up_label is None else up_label
    matches = np.flatnonzero(classes == up)
    if matches.size != 1:
        raise ValueError(f"up_label {up!r} is not one of the model's classes {classes.tolist()}")
    return proba[:, matches[0]], classes[np.argmax(proba, axis=1)]


def _accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    known = ~pd.isna(labels)
    if not known.any():
        return float("nan")
    return float(np.mean(predicted[known] == labels[known].astype(predicted.dtype)))


def _window_stats(
    windows: pd.DataFrame,
    result: BacktestResult,
    prices: np.ndarray,
    offset: int,
    periods_per_year: float,
) -> pd.DataFrame:
    """Each window's statistics over the returns its decisions earned."""
    gross_next = np.r_[result.gross_returns.to_numpy()[1:], 0.0]
    decision = (1.0 - result.costs.to_numpy()) * (1.0 + gross_next) - 1.0
    positions = result.positions.to_numpy()
    turnover = result.turnover.to_numpy()
    stats = []
    for first, size in zip(windows["test_first_row"], windows["n_test"], strict=True):
        part = slice(first - offset, first - offset + size)
        window_stats = compute_stats(
            decision[part], positions[part], turnover[part], periods_per_year,
            held=positions[part] != 0.0,
        )
        last = min(part.stop, prices.size - 1)
        window_stats["buy_hold_return"] = float(prices[last] / prices[part.start] - 1.0)
        stats.append(window_stats)
    return pd.concat([windows, pd.DataFrame(stats)], axis=1)
