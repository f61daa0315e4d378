"""Cheap feature ranking against the forward return (a sanity check, not a model)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def feature_importance_proxy(
    frame: pd.DataFrame, feature_columns: list[str], horizon: int = 1
) -> pd.DataFrame:
    """Rank features by absolute Spearman correlation with the forward log return.

    The target ``log(close[t + horizon] / close[t])`` deliberately looks ahead: it is the
    label, not a feature. The last ``horizon`` rows have no target and are dropped.

    Args:
        frame: Feature frame with a ``close`` column and every column in
            ``feature_columns`` (e.g. ``FeatureResult.frame``).
        feature_columns: Columns to rank.
        horizon: Bars ahead of the forward return.

    Returns:
        Columns ``feature, spearman, abs_spearman, rank`` sorted by ``abs_spearman``
        descending (ties keep ``feature_columns`` order); ``rank`` starts at 1. Constant
        columns score 0.

    Raises:
        ValueError: On a bad horizon, missing columns, too few rows or non-finite values.
    """
    _check_arguments(frame, feature_columns, horizon)
    n = len(frame) - horizon
    close = frame["close"].to_numpy(dtype=np.float64)
    if not (np.isfinite(close).all() and close.min() > 0.0):
        raise ValueError("column 'close' must be finite and strictly positive")
    target = np.log(close[horizon:] / close[:-horizon])
    # Average ranks sum to n(n+1)/2 for any ties, so every rank vector centres on the same
    # exact constant; constant columns then centre to exact zeros and score 0.
    centre = (n + 1) / 2.0
    y = _average_ranks(target) - centre
    y_norm = float(np.sqrt(y @ y))
    rho = np.zeros(len(feature_columns))
    # One column at a time: the argsort dominates, and 1-D ranking beats 2-D ``rank``
    # (pandas or numpy) by 2-3x while keeping temporaries to a few columns' worth.
    for j, column in enumerate(feature_columns):
        x = frame[column].to_numpy(dtype=np.float64)[:n]
        if not np.isfinite(x).all():
            raise ValueError(f"feature {column!r} contains NaN/inf")
        xr = _average_ranks(x)
        xr -= centre
        norm = float(np.sqrt(xr @ xr)) * y_norm
        rho[j] = float(y @ xr) / norm if norm > 0.0 else 0.0
    np.clip(rho, -1.0, 1.0, out=rho)
    result = pd.DataFrame(
        {"feature": list(feature_columns), "spearman": rho, "abs_spearman": np.abs(rho)}
    )
    result = result.sort_values("abs_spearman", ascending=False, kind="stable")
    result = result.reset_index(drop=True)
    result["rank"] = np.arange(1, len(result) + 1)
    return result


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks; tied values share the mean of their ranks (like ``method="average"``)."""
    n = values.size
    order = np.argsort(values)
    ordered = values[order]
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    ranks = np.empty(n, dtype=np.float64)
    if starts.all():
        ranks[order] = np.arange(1.0, n + 1.0)
        return ranks
    # A run of equal values at sorted positions first..first+size-1 holds ranks
    # first+1..first+size, whose mean is first + (size + 1) / 2.
    first = np.flatnonzero(starts)
    sizes = np.diff(np.append(first, n))
    ranks[order] = np.repeat(first + (sizes + 1) / 2.0, sizes)
    return ranks


def _check_arguments(frame: pd.DataFrame, feature_columns: list[str], horizon: int) -> None:
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    if not feature_columns:
        raise ValueError("feature_columns is empty")
    missing = [c for c in ["close", *feature_columns] if c not in frame.columns]
    if missing:
        raise ValueError(f"frame is missing columns {missing[:10]}")
    if len(frame) - horizon < 3:
        raise ValueError(
            f"need at least {horizon + 3} rows for horizon {horizon}, got {len(frame)}"
        )
