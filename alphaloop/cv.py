"""Leakage-safe cross-validation for overlapping labels: purged k-fold and walk-forward.

A label that spans bars ``[t0, t1]`` shares information with every label whose span overlaps
it, so a model trained on a test sample's neighbours has, in effect, seen its answer. The
splitters here keep training samples away from the test labels:

- **purge**: drop every training sample whose closed interval ``[t0, t1]`` overlaps the test
  fold's span ``[first t0, max t1]``;
- **embargo**: after a test fold only, also drop the ``embargo`` samples that start right
  after the purged span (the first training samples whose *features* still look back into the
  test period). Samples before a fold are purged but never embargoed.

``t1`` is always a Series aligned with ``X`` by position: index = each sample's start time
``t0``, values = its label end time (``alphaloop.labels.prepare_target`` writes it), both in
time order. Times may be datetimes (tz-aware or naive, not mixed) or plain numbers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sklearn.model_selection import BaseCrossValidator

Split = tuple[np.ndarray, np.ndarray]


class CVParams(BaseModel):
    """The ``cv:`` section of ``params.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_splits: int = Field(default=5, ge=2)
    # < 1: a fraction of the samples; >= 1: a whole number of bars; None: the feature plan's
    # longest look-back (resolved by alphaloop.config.Params.embargo_bars).
    embargo: float | None = Field(default=None, ge=0.0, allow_inf_nan=False)
    # None: what the data allow, a quarter of the labelled rows (see walk_forward_window).
    walk_forward_initial: int | None = Field(default=None, ge=1)
    walk_forward_step: int = Field(default=500, ge=1)
    # The gate's holdout: the most recent rows, never trained on (< 1: a share; >= 1: rows).
    holdout: float = Field(default=0.15, gt=0.0, allow_inf_nan=False)

    @field_validator("embargo")
    @classmethod
    def _check_embargo(cls, value: float | None) -> float | None:
        if value is not None:
            resolve_embargo(value, 1)
        return value


def resolve_embargo(embargo: float | int, n_samples: int) -> int:
    """The embargo as a number of samples.

    Args:
        embargo: ``0 <= embargo < 1`` is a fraction of ``n_samples`` (rounded down); a whole
            number ``>= 1`` (``10`` or ``10.0``) is that many samples.
        n_samples: Samples being split.

    Raises:
        ValueError: On a negative, non-finite or fractional (>= 1) embargo.
    """
    if isinstance(embargo, bool) or not math.isfinite(embargo) or embargo < 0:
        raise ValueError(f"embargo must be a finite number >= 0, got {embargo!r}")
    if embargo < 1:
        # The epsilon keeps e.g. 0.29 * 100 = 28.999... from rounding down to 28.
        return math.floor(embargo * n_samples + 1e-9)
    if float(embargo) != int(embargo):
        raise ValueError(f"an embargo >= 1 counts bars and must be whole, got {embargo!r}")
    return int(embargo)


def walk_forward_window(n: int, initial: int | None, gap: int) -> int:
    """The walk-forward's first training window: ``initial``, or a quarter of ``n`` rows.

    Raises:
        ValueError: When no test window is left (or the window does not exceed ``gap``),
            naming ``cv.walk_forward_initial``.
    """
    window = initial if initial is not None else max(gap + 1, n // 4)
    if not gap < window < n:
        said = f"cv.walk_forward_initial={initial}" if initial is not None else \
            "cv.walk_forward_initial (null: a quarter of the rows)"
        raise ValueError(
            f"{said} gives a first training window of {window} rows, but the walk-forward "
            f"needs more than the label horizon gap ({gap}) and fewer than the {n:,} labelled "
            f"rows; lower cv.walk_forward_initial, set it to null, or give more data")
    return window


def check_fold_layout(n: int, n_splits: int, embargo: int, horizon: int, why: str = "") -> None:
    """Refuse a purged k-fold whose first fold would keep under half a fold of training rows.

    Fold 0's training rows are the ones after its test fold, less the purge (about
    ``horizon`` rows) and the ``embargo``.

    Raises:
        ValueError: Naming ``cv.embargo`` and ``cv.n_splits`` (and ``why``: what set the
            embargo) with the rows the layout needs.
    """
    fold = n // n_splits
    left = n - fold - embargo - horizon
    if left >= max(1, fold // 2):
        return
    per_row = 1.0 - 1.5 / n_splits
    need = math.ceil((embargo + horizon) / per_row) if per_row > 0 else None
    need_text = f"at least {need:,}" if need else "more"
    raise ValueError(
        f"{n:,} labelled training rows are too few for {n_splits} purged folds with an embargo "
        f"of {embargo} bars{why}: the first fold would keep {max(left, 0):,} training rows. "
        f"Lower cv.embargo or cv.n_splits, or give more data ({need_text} labelled rows)")


def split_recent_holdout(frame: pd.DataFrame, holdout: float
                         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training rows and the most recent ``holdout`` rows of a labelled frame.

    Training rows whose label ends at or after the holdout's first bar (``t1``) are purged,
    so no training label saw a holdout bar. Rows are in time order with ``timestamp`` and
    ``t1`` (``prepare_target`` output).

    Raises:
        ValueError: When the holdout is empty or leaves no training rows (naming ``cv.holdout``).
    """
    n = len(frame)
    size = resolve_embargo(holdout, n)
    if size < 1 or size >= n:
        raise ValueError(f"cv.holdout={holdout!r} gives {size} holdout rows of {n}: need at "
                         "least one holdout row and one training row")
    held = frame.iloc[n - size:]
    start = held["timestamp"].iloc[0]
    fit = frame.iloc[: n - size]
    fit = fit[pd.to_datetime(fit["t1"]) < start]
    if fit.empty:
        raise ValueError(f"cv.holdout={holdout!r}: no training rows left after purging")
    return fit, held


class PurgedKFold(BaseCrossValidator):
    """K-fold over contiguous, unshuffled test folds with purging and an embargo.

    The test folds partition the samples (sizes as ``KFold``), so it works with
    ``cross_val_score``, ``cross_val_predict`` and ``GridSearchCV(cv=...)``. ``t1`` must
    describe exactly the ``X`` being split: in nested CV build a new splitter per subset.

    Args:
        n_splits: Number of folds (>= 2).
        t1: Label end times, positionally aligned with ``X``; index = start times ``t0``.
        embargo: Samples dropped after each fold's purged span (see :func:`resolve_embargo`).
    """

    def __init__(
        self, n_splits: int = 5, t1: pd.Series | None = None, embargo: float | int = 0.0
    ) -> None:
        if isinstance(n_splits, bool) or not isinstance(n_splits, int | np.integer) \
                or n_splits < 2:
            raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}")
        resolve_embargo(embargo, 1)
        self.n_splits = int(n_splits)
        self.t1 = t1
        self.embargo = embargo

    def __repr__(self) -> str:
        size = "None" if self.t1 is None else f"<{len(self.t1)} samples>"
        return f"PurgedKFold(n_splits={self.n_splits}, t1={size}, embargo={self.embargo!r})"

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """The number of folds."""
        return self.n_splits

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[Split]:
        """Yield ``(train, test)`` positional index arrays, one pair per fold, in time order.

        Raises:
            ValueError: If ``t1`` is missing, misaligned or unordered, there are fewer samples
                than folds, or purging leaves a fold with no training samples.
        """
        n = _num_samples(X)
        if self.t1 is None:
            raise ValueError("PurgedKFold needs t1 (label end times) to purge overlapping labels")
        t0, t1 = _times(self.t1, n)
        if n < self.n_splits:
            raise ValueError(f"cannot split {n} samples into {self.n_splits} folds")
        n_embargo = resolve_embargo(self.embargo, n)
        sizes = np.full(self.n_splits, n // self.n_splits)
        sizes[: n % self.n_splits] += 1
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        indices = np.arange(n)
        for fold, (start, stop) in enumerate(itertools.pairwise(bounds)):
            span_start, span_end = t0[start], t1[start:stop].max()
            keep = (t1 < span_start) | (t0 > span_end)
            keep[start:stop] = False
            # t0 is sorted, so the samples after the purged span start at one position.
            after = int(np.searchsorted(t0, span_end, side="right"))
            keep[after:after + n_embargo] = False
            train = indices[keep]
            if train.size == 0:
                raise ValueError(f"fold {fold}: no training samples left after purging")
            yield train, indices[start:stop]


def purged_kfold_cv(
    n_splits: int = 5, embargo: float | int = 0
) -> Callable[[pd.DataFrame], Iterator[Split]]:
    """A splitter over a labelled frame's ``timestamp`` (t0) and ``t1`` columns.

    ``splitter = purged_kfold_cv(n_splits=5, embargo=10)`` then
    ``for train_idx, test_idx in splitter(features): ...`` gives positional ``int`` arrays.
    """
    template = PurgedKFold(n_splits=n_splits, embargo=embargo)  # validates the arguments

    def splitter(features: pd.DataFrame) -> Iterator[Split]:
        missing = [c for c in ("timestamp", "t1") if c not in features.columns]
        if missing:
            raise ValueError(f"features is missing column(s) {', '.join(missing)}")
        t1 = features["t1"].set_axis(pd.Index(features["timestamp"]))
        cv = PurgedKFold(n_splits=template.n_splits, t1=t1, embargo=template.embargo)
        yield from cv.split(features)

    return splitter


class WalkForwardSplit(BaseCrossValidator):
    """Walk-forward folds: train on the past, skip ``gap`` rows, test the next ``step`` rows.

    Fold ``k`` trains on rows ``[train_end - max_train, train_end)`` (from row 0 when
    ``max_train`` is None: an expanding window) with ``train_end = initial_window + k * step``
    and tests on ``[train_end + gap, train_end + gap + step)``; the last test fold may be
    shorter. Test folds are disjoint, contiguous and strictly after their training rows.
    ``gap`` should be at least the label horizon; with ``t1`` the training samples whose label
    ends at or after the first test start are purged as well.

    Args:
        initial_window: Rows in the first training window (>= 1).
        step: Rows per test fold, and how far the window moves each fold (>= 1).
        gap: Rows skipped between the training end and the test start (>= 0).
        max_train: Rolling window length; None keeps every past row.
        t1: Optional label end times, positionally aligned with ``X``; index = start times.
    """

    def __init__(
        self,
        initial_window: int,
        step: int,
        gap: int,
        max_train: int | None = None,
        t1: pd.Series | None = None,
    ) -> None:
        for name, value, low in (("initial_window", initial_window, 1), ("step", step, 1),
                                 ("gap", gap, 0), ("max_train", max_train, 1)):
            if name == "max_train" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        self.initial_window = initial_window
        self.step = step
        self.gap = gap
        self.max_train = max_train
        self.t1 = t1

    def __repr__(self) -> str:
        size = "None" if self.t1 is None else f"<{len(self.t1)} samples>"
        return (f"WalkForwardSplit(initial_window={self.initial_window}, step={self.step}, "
                f"gap={self.gap}, max_train={self.max_train}, t1={size})")

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """The number of folds for ``X`` (or for ``t1`` when ``X`` is None)."""
        if X is None:
            if self.t1 is None:
                raise ValueError("WalkForwardSplit.get_n_splits needs X (or t1) to count folds")
            return self._count(len(self.t1))
        return self._count(_num_samples(X))

    def _count(self, n: int) -> int:
        first_test = self.initial_window + self.gap
        return max(0, -(-(n - first_test) // self.step))

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[Split]:
        """Yield ``(train, test)`` positional index arrays, oldest fold first.

        Raises:
            ValueError: If no test fold fits, ``t1`` is misaligned or unordered, or purging
                leaves a fold with no training samples.
        """
        n = _num_samples(X)
        times = None if self.t1 is None else _times(self.t1, n)
        n_folds = self._count(n)
        if n_folds == 0:
            raise ValueError(f"{n} samples leave no test fold after initial_window="
                             f"{self.initial_window} and gap={self.gap}")
        indices = np.arange(n)
        for fold in range(n_folds):
            train_end = self.initial_window + fold * self.step
            train_start = 0 if self.max_train is None else max(0, train_end - self.max_train)
            test_start = train_end + self.gap
            train = indices[train_start:train_end]
            if times is not None:
                t0, t1 = times
                train = train[t1[train] < t0[test_start]]
            if train.size == 0:
                raise ValueError(f"fold {fold}: no training samples left after purging")
            yield train, indices[test_start:min(test_start + self.step, n)]


def inner_validation_split(
    n: int, t1: pd.Series, fraction: float = 0.2, embargo: int = 0
) -> Split:
    """Split a training set into a purged head for fitting and a tail for early stopping.

    Meant for the samples of one training fold (never a test fold). The validation part is
    the last ``floor(fraction * n)`` samples (at least one); training samples whose label ends
    at or after the validation start are purged, then ``embargo`` more samples are dropped
    from the end of the training part as a safety gap.

    Args:
        n: Number of samples in the training set.
        t1: Their label end times, positionally aligned; index = start times.
        fraction: Share of samples used for validation, in ``(0, 1)``.
        embargo: Extra samples dropped between the training and validation parts (>= 0).

    Returns:
        ``(train_idx, val_idx)`` positional ``int`` arrays, in time order.

    Raises:
        ValueError: On bad arguments, a misaligned ``t1`` or an empty part.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    if isinstance(embargo, bool) or not isinstance(embargo, int | np.integer) or embargo < 0:
        raise ValueError(f"embargo must be an integer >= 0, got {embargo!r}")
    t0, ends = _times(t1, n)
    n_val = max(1, math.floor(fraction * n + 1e-9))
    val_start = n - n_val
    train = np.flatnonzero(ends[:val_start] < t0[val_start])
    train = train[: max(0, train.size - embargo)]
    if train.size == 0:
        raise ValueError(f"no training samples left for n={n}, fraction={fraction}, "
                         f"embargo={embargo} after purging against the validation tail")
    return train, np.arange(val_start, n)


def _num_samples(X: Any) -> int:
    shape = getattr(X, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) else len(X)


def _times(t1: pd.Series, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(t0, t1)`` as comparable int64/float arrays, checked against ``n`` samples."""
    if not isinstance(t1, pd.Series):
        raise ValueError(f"t1 must be a pandas Series (index t0, values t1), got {type(t1)}")
    if len(t1) != n:
        raise ValueError(f"t1 has {len(t1)} entries but X has {n} samples: they must align")
    kinds = [(pd.api.types.is_datetime64_any_dtype(d), isinstance(d, pd.DatetimeTZDtype))
             for d in (t1.index.dtype, t1.dtype)]
    if kinds[0] != kinds[1]:
        raise ValueError("t0 (the t1 index) and t1 must be the same kind of time: both numbers, "
                         "both tz-aware or both naive datetimes")
    starts, ends = _ordinal(t1.index, "t1 index (t0)"), _ordinal(t1, "t1")
    if starts.size and (np.diff(starts) < 0).any():
        raise ValueError("t1 index (t0) must be sorted in time order")
    if (ends < starts).any():
        raise ValueError("every t1 must be at or after its t0")
    return starts, ends


def _ordinal(values: pd.Index | pd.Series, name: str) -> np.ndarray:
    """Datetimes as int64 nanoseconds (UTC for tz-aware), numbers as float64."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = pd.DatetimeIndex(values)
        if stamps.hasnans:
            raise ValueError(f"{name} has missing times")
        return np.asarray(stamps.as_unit("ns").asi8)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        numbers = np.asarray(values, dtype=np.float64)
        if np.isnan(numbers).any():
            raise ValueError(f"{name} has missing times")
        return numbers
    raise ValueError(f"{name} must hold datetimes or numbers, got dtype {values.dtype}")
