"""Direction labels: forward log return, up/down target and each label's end time ``t1``.

The label of bar ``t`` is built from ``close[t]`` and ``close[t + horizon]`` only, so its
information ends at bar ``t + horizon``; ``t1`` records that bar's timestamp and is what the
purged cross-validation in :mod:`alphaloop.cv` uses to keep overlapping labels apart.

Encoding (``target``):

- ``neutral="drop"``: ``1`` up (``fwd_return > threshold``), ``0`` down
  (``fwd_return < -threshold``); moves inside the dead zone ``|fwd_return| <= threshold``
  are dropped.
- ``neutral="class"``: ``0`` down, ``1`` flat (the dead zone), ``2`` up.

Gaps: a label whose horizon crosses a data gap (``segment`` changes between ``t`` and
``t + horizon``; validation numbers the gap-free runs) would be a return over an unknown
stretch of time, so it is dropped (``across_gaps="drop"``, the default) or kept for the caller
to mask (``"keep"``, with :func:`spans_gap` telling which).

Tie rule: ``threshold=0`` means *no* dead zone, so nothing is dropped or flat and a zero
return is labelled down (``0``, i.e. "not up"): a long position on it earns nothing and
pays costs.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

Neutral = Literal["drop", "class"]
# Columns prepare_target adds; everything downstream must keep them out of the features.
LABEL_COLUMNS: tuple[str, ...] = ("fwd_return", "target", "t1")
DOWN, UP = 0, 1
CLASS_DOWN, CLASS_FLAT, CLASS_UP = 0, 1, 2


class TargetParams(BaseModel):
    """The ``target:`` section of ``params.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    horizon: int = Field(default=4, ge=1, description="bars ahead of the forward return")
    threshold: float = Field(
        default=0.0, ge=0.0, allow_inf_nan=False,
        description="absolute log-return dead zone; 0 disables it",
    )
    neutral: Neutral = Field(
        default="drop", description="dead-zone moves: 'drop' them or make them a 'class'"
    )


def spans_gap(features: pd.DataFrame, horizon: int) -> np.ndarray:
    """For each of the first ``len - horizon`` rows: does its label cross a data gap?

    Rows in different gap-free segments (the ``segment`` column) are on two sides of a gap;
    without a ``segment`` column nothing is known to cross one.
    """
    n = max(len(features) - horizon, 0)
    if "segment" not in features.columns:
        return np.zeros(n, dtype=bool)
    seg = features["segment"].to_numpy()
    return np.asarray(seg[horizon:] != seg[:n], dtype=bool)


def prepare_target(
    features: pd.DataFrame, horizon: int, threshold: float, neutral: str = "drop",
    across_gaps: Literal["drop", "keep"] = "drop",
) -> pd.DataFrame:
    """Add the forward log return, the direction label and the label end time.

    Rows are bars in time order and are addressed by position, never by index:
    ``fwd_return[t] = log(close[t + horizon] / close[t])`` and ``t1[t] = timestamp[t + horizon]``
    (across a data gap ``t1`` is the real, later end time, which is what purging needs).

    Args:
        features: One row per bar, sorted by a strictly increasing ``timestamp``, with a
            positive finite ``close``. Every column is kept.
        horizon: Bars ahead (>= 1). The last ``horizon`` rows have no future and are dropped.
        threshold: Dead zone on the absolute forward log return (>= 0); ``0`` disables it.
        neutral: ``"drop"`` removes dead-zone rows and leaves a binary target (1 up, 0 down);
            ``"class"`` keeps them as a third class (0 down, 1 flat, 2 up).
        across_gaps: ``"drop"`` removes labels whose horizon crosses a data gap; ``"keep"``
            leaves them (mask them with :func:`spans_gap`).

    Returns:
        A new frame with the input columns plus ``fwd_return`` (float), ``target`` (int64) and
        ``t1`` (the ``timestamp`` dtype), with a fresh ``RangeIndex``.

    Raises:
        ValueError: On missing or clashing columns, a bad horizon, threshold or ``neutral``,
            unsorted timestamps, non-positive prices or too few rows.
    """
    _check_target_arguments(features, horizon, threshold, neutral)
    close = features["close"].to_numpy(dtype=np.float64)
    fwd = np.log(close[horizon:] / close[:-horizon])
    out = features.iloc[: len(features) - horizon].reset_index(drop=True)
    out["fwd_return"] = fwd
    # Ties: with no dead zone a zero return is "not up"; with one, the zone is closed.
    flat = np.abs(fwd) <= threshold if threshold > 0 else np.zeros(fwd.size, dtype=bool)
    up = fwd > threshold
    if neutral == "class":
        out["target"] = np.where(up, CLASS_UP, np.where(flat, CLASS_FLAT, CLASS_DOWN))
    else:
        out["target"] = np.where(up, UP, DOWN)
    out["target"] = out["target"].astype(np.int64)
    out["t1"] = features["timestamp"].iloc[horizon:].reset_index(drop=True)
    drop = flat if neutral == "drop" else np.zeros(fwd.size, dtype=bool)
    if across_gaps == "drop":
        drop = drop | spans_gap(features, horizon)
    if drop.any():
        out = out.loc[~drop].reset_index(drop=True)
    return out


def past_return(close: pd.Series | np.ndarray, horizon: int) -> pd.Series:
    """Log return over the previous ``horizon`` bars: ``log(close[t] / close[t - horizon])``.

    It uses bars up to ``t`` only, so it is a legal feature (the persistence baseline predicts
    the next move's sign from it). Note ``past_return[t + horizon] == fwd_return[t]``.

    Args:
        close: Close prices in time order (a Series keeps its index).
        horizon: Bars back (>= 1).

    Returns:
        A float Series; the first ``horizon`` values are NaN.

    Raises:
        ValueError: On a bad horizon or non-positive prices.
    """
    _check_horizon(horizon)
    index = close.index if isinstance(close, pd.Series) else None
    values = np.asarray(close, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"close must be one-dimensional, got shape {values.shape}")
    if (values[np.isfinite(values)] <= 0).any():
        raise ValueError("close must be strictly positive")
    result = np.full(values.size, np.nan)
    if values.size > horizon:
        result[horizon:] = np.log(values[horizon:] / values[:-horizon])
    return pd.Series(result, index=index, name="past_return")


def _check_horizon(horizon: int) -> None:
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")


def _check_target_arguments(
    features: pd.DataFrame, horizon: int, threshold: float, neutral: str
) -> None:
    _check_horizon(horizon)
    if isinstance(threshold, bool) or not math.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")
    if neutral not in ("drop", "class"):
        raise ValueError(f"neutral must be 'drop' or 'class', got {neutral!r}")
    missing = [c for c in ("timestamp", "close") if c not in features.columns]
    if missing:
        raise ValueError(f"features is missing column(s) {', '.join(missing)}")
    clashing = [c for c in LABEL_COLUMNS if c in features.columns]
    if clashing:
        raise ValueError(f"features already has label column(s) {', '.join(clashing)}")
    if len(features) <= horizon:
        raise ValueError(
            f"need more than {horizon} rows for horizon {horizon}, got {len(features)}"
        )
    timestamps = features["timestamp"]
    if timestamps.isna().any() or not timestamps.is_monotonic_increasing \
            or not timestamps.is_unique:
        raise ValueError("timestamp must be strictly increasing with no missing values")
    close = features["close"].to_numpy(dtype=np.float64)
    if not (np.isfinite(close).all() and close.min() > 0.0):
        raise ValueError("column 'close' must be finite and strictly positive")
