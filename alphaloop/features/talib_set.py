"""Build the TA-Lib feature set from canonical OHLCV bars.

The heavy lifting is TA-Lib itself; this module keeps the overhead around it small by
calling each TA-Lib function once per parameter set on contiguous float64 arrays, writing
every column straight into one preallocated column-major matrix and wrapping that matrix
in a DataFrame without copying.
"""

from __future__ import annotations

import itertools
import mmap
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alphaloop.features.config import FeatureConfig
from alphaloop.features.families import feature_plan
from alphaloop.features.plan import BASE_INPUTS, DERIVED_INPUTS, FeaturePlan

REQUIRED_COLUMNS: tuple[str, ...] = ("timestamp", *BASE_INPUTS)
_PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
# Below this matrix size a helper thread costs more than the page faults it hides.
PREFAULT_MIN_BYTES = 64 << 20
_PREFAULT_BLOCK_COLUMNS = 1


@dataclass(frozen=True)
class FeatureResult:
    """Output of ``build_features``.

    Attributes:
        frame: Input columns (warm-up rows removed, index reset) followed by the features.
        feature_columns: Names of the feature columns, in frame order.
        warmup_rows_dropped: Rows removed because some feature was undefined: each
            segment's warm-up, plus whole segments too short for it.
        segments_used: Gap-free segments the features were computed on.
        segments_skipped: Segments dropped whole because they are shorter than the warm-up.
    """

    frame: pd.DataFrame
    feature_columns: list[str]
    warmup_rows_dropped: int
    segments_used: int = 1
    segments_skipped: int = 0  # gap-free segments shorter than the longest look-back


def build_features(bars: pd.DataFrame, config: FeatureConfig | None = None) -> FeatureResult:
    """Compute the TA-Lib feature set on one symbol's bars.

    Every feature at row ``t`` depends only on bars ``<= t``. Extra columns of ``bars``
    (symbol, segment, ...) are carried through unchanged. Features never span a data gap:
    when ``bars`` has a ``segment`` column (validation numbers the gap-free runs), each
    segment is computed on its own and loses its own warm-up (the indicators *restart*
    after a gap); a segment shorter than the warm-up is dropped whole.

    Args:
        bars: Canonical bar frame with ``timestamp`` (datetime, ascending) and float
            ``open, high, low, close, volume`` columns.
        config: Feature configuration; defaults to ``FeatureConfig()``.

    Returns:
        The feature frame, the feature column names and the number of rows dropped.

    Raises:
        TypeError: If ``bars`` is not a DataFrame.
        ValueError: If columns are missing or invalid, no segment is long enough for the
            longest look-back (naming the params key behind it), or a feature is NaN/inf
            after the warm-up.
    """
    plan = feature_plan(config)
    _validate_frame(bars, plan)
    runs = _segments(bars)
    needed = plan.max_lookback + 1
    usable = [(a, b) for a, b in runs if b - a >= needed]
    if not usable:
        name, lookback, key = plan.longest()
        longest = max(b - a for a, b in runs)
        where = "rows" if len(runs) == 1 else \
            f"rows in the longest of {len(runs)} gap-free segments"
        raise ValueError(
            f"too few rows: got {longest} {where}, need at least {needed}: {name} looks back "
            f"{lookback} bars ({key}); lower {key} or give more data")
    parts = [_build_segment(bars.iloc[a:b], plan) for a, b in usable]
    frame = parts[0][0] if len(parts) == 1 else pd.concat([p[0] for p in parts],
                                                           ignore_index=True)
    return FeatureResult(frame=frame, feature_columns=plan.feature_columns,
                         warmup_rows_dropped=len(bars) - len(frame), segments_used=len(usable),
                         segments_skipped=len(runs) - len(usable))


def _segments(bars: pd.DataFrame) -> list[tuple[int, int]]:
    """Positional ``[start, stop)`` of each gap-free run (one run without a segment column)."""
    if "segment" not in bars.columns or len(bars) == 0:
        return [(0, len(bars))]
    seg = bars["segment"].to_numpy()
    cuts = np.flatnonzero(seg[1:] != seg[:-1]) + 1
    bounds = [0, *cuts.tolist(), len(bars)]
    return list(itertools.pairwise(bounds))


def _build_segment(bars: pd.DataFrame, plan: FeaturePlan) -> tuple[pd.DataFrame, int]:
    series = prepare_inputs(bars, plan)
    matrix = _compute_matrix(plan, series, len(bars))
    warmup = _first_complete_row(matrix, plan.max_lookback)
    body = matrix[warmup:]
    names = plan.feature_columns
    _check_finite(body, names, bars["timestamp"], warmup)
    features = pd.DataFrame(body, columns=names, copy=False)
    carried = bars.iloc[warmup:].reset_index(drop=True)
    return pd.concat([carried, features], axis=1), warmup


def prepare_inputs(bars: pd.DataFrame, plan: FeaturePlan) -> dict[str, np.ndarray]:
    """Extract contiguous float64 OHLCV arrays and the derived series ``plan`` needs.

    Args:
        bars: Canonical bar frame (validated by the caller).
        plan: Plan whose calls will consume the arrays.

    Returns:
        Arrays keyed by series name.
    """
    series: dict[str, np.ndarray] = {
        c: np.ascontiguousarray(bars[c].to_numpy(dtype=np.float64)) for c in BASE_INPUTS
    }
    for name in plan.derived_inputs:
        series[name] = DERIVED_INPUTS[name].compute(series)
    return series


def _compute_matrix(plan: FeaturePlan, series: dict[str, np.ndarray], n: int) -> np.ndarray:
    matrix = _allocate_matrix(n, len(plan.features))
    prefaulter = None
    if matrix.nbytes >= PREFAULT_MIN_BYTES:
        prefaulter = _Prefaulter(matrix, [j for step in plan.steps for j in step.features])
    lookbacks = plan.feature_lookbacks
    try:
        for step in plan.steps:
            if step.call is not None:
                series.update(zip(step.call.outputs, step.call.run(series), strict=True))
            for j in step.features:
                if prefaulter is not None:
                    prefaulter.wait_for(j)
                spec = plan.features[j]
                column = matrix[:, j]
                spec.op.kernel(column, *(series[name] for name in spec.operands))
                # Integer outputs (patterns, trend mode) pad the warm-up with 0, not NaN.
                column[: lookbacks[spec.name]] = np.nan
            for name in step.release:
                del series[name]
    finally:
        if prefaulter is not None:
            prefaulter.stop()
    return matrix


def _allocate_matrix(n: int, width: int) -> np.ndarray:
    """Uninitialised float64 ``(n, width)`` matrix in column-major order.

    Each feature column is then contiguous for TA-Lib outputs and the kernels. Large
    matrices live in an anonymous mapping rather than numpy's allocator, which advises
    transparent huge pages: first-touch faults on fresh huge pages were several times
    slower (seconds per GB) on the VMs we benchmark on, while 4 KiB pages fault in at a
    rate the prefault helper can hide behind TA-Lib's work.
    """
    nbytes = n * width * np.dtype(np.float64).itemsize
    if nbytes < PREFAULT_MIN_BYTES:
        return np.empty((n, width), dtype=np.float64, order="F")
    buffer = mmap.mmap(-1, nbytes)
    return np.frombuffer(buffer, dtype=np.float64).reshape(width, n).T


class _Prefaulter:
    """Touches the fresh output matrix on a helper thread while TA-Lib computes.

    First-touch page faults on a multi-GB buffer are a large share of the overhead (and
    very slow on some VMs). TA-Lib and ``ndarray.fill`` both release the GIL, so faulting
    pages in ahead of the writer overlaps that cost with TA-Lib's work. Columns are
    handled in blocks, in the writer's order; each block is claimed exactly once, by the
    helper or (when the writer gets there first) by the writer, so the helper never
    touches a column after the writer has written it.
    """

    _PENDING, _HELPER, _DONE = 0, 1, 2

    def __init__(self, matrix: np.ndarray, write_order: list[int]) -> None:
        self._matrix = matrix
        width = matrix.shape[1]
        blocks = dict.fromkeys(j // _PREFAULT_BLOCK_COLUMNS for j in write_order)
        blocks.update(dict.fromkeys(range(-(-width // _PREFAULT_BLOCK_COLUMNS))))
        self._order = list(blocks)
        self._state = [self._PENDING] * len(self._order)
        self._stopped = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="prefault", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for block in self._order:
            with self._cond:
                if self._stopped:
                    return
                if self._state[block] != self._PENDING:
                    continue
                self._state[block] = self._HELPER
            try:
                start = block * _PREFAULT_BLOCK_COLUMNS
                self._matrix[:, start : start + _PREFAULT_BLOCK_COLUMNS].fill(np.nan)
            finally:
                with self._cond:
                    self._state[block] = self._DONE
                    self._cond.notify_all()

    def wait_for(self, column: int) -> None:
        """Return once ``column`` may be written: faulted in, or claimed by the writer."""
        block = column // _PREFAULT_BLOCK_COLUMNS
        with self._cond:
            if self._state[block] == self._PENDING:
                self._state[block] = self._DONE  # the writer faults these pages itself
            self._cond.wait_for(lambda: self._state[block] == self._DONE)

    def stop(self) -> None:
        """Stop the helper after its current block and wait for it."""
        with self._cond:
            self._stopped = True
        self._thread.join()


def _first_complete_row(matrix: np.ndarray, hint: int) -> int:
    n = matrix.shape[0]
    stop = min(n, hint + 1)
    while True:
        complete = np.flatnonzero(~np.isnan(matrix[:stop]).any(axis=1))
        if complete.size:
            return int(complete[0])
        if stop == n:
            raise ValueError("no row has every feature defined; a feature is NaN throughout")
        stop = min(n, 2 * stop)


def _check_finite(body: np.ndarray, names: list[str], timestamps: pd.Series, offset: int) -> None:
    # A column sum is non-finite iff the column holds NaN/inf (barring overflow, which the
    # exact per-column pass below then clears); one pass is far cheaper than isfinite.
    suspects = np.flatnonzero(~np.isfinite(body.sum(axis=0)))
    for j in suspects:
        bad = np.flatnonzero(~np.isfinite(body[:, j]))
        if bad.size:
            row = offset + int(bad[0])
            raise ValueError(
                f"feature {names[j]!r} has {bad.size} NaN/inf values after the warm-up "
                f"(first at row {row}, timestamp {timestamps.iloc[row]})"
            )


def _validate_frame(bars: pd.DataFrame, plan: FeaturePlan) -> None:
    if not isinstance(bars, pd.DataFrame):
        raise TypeError(f"bars must be a pandas DataFrame, got {type(bars).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in bars.columns]
    if missing:
        raise ValueError(f"bars is missing required columns {missing}; got {list(bars.columns)}")
    clashes = [c for c in plan.feature_columns if c in bars.columns]
    if clashes:
        raise ValueError(f"bars already has columns named like features: {clashes[:5]}")
    _validate_timestamps(bars["timestamp"])
    _validate_values({c: bars[c] for c in BASE_INPUTS})


def _validate_timestamps(ts: pd.Series) -> None:
    if not pd.api.types.is_datetime64_any_dtype(ts):
        raise ValueError(f"column 'timestamp' must be datetime64, got {ts.dtype}")
    if ts.isna().any():
        raise ValueError("column 'timestamp' contains NaT")
    if not ts.is_monotonic_increasing:
        raise ValueError("column 'timestamp' must be sorted ascending")


def _validate_values(columns: Mapping[str, pd.Series]) -> None:
    for name, col in columns.items():
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise ValueError(f"column {name!r} must be numeric, got {col.dtype}")
        values = col.to_numpy(dtype=np.float64)
        finite = np.isfinite(values)
        if not finite.all():
            first = int(np.argmin(finite))
            raise ValueError(f"column {name!r} has NaN/inf values (first at row {first})")
        lowest = float(values.min())
        if name in _PRICE_COLUMNS and lowest <= 0.0:
            raise ValueError(f"column {name!r} must be strictly positive (min {lowest})")
        if name == "volume" and lowest < 0.0:
            raise ValueError(f"column 'volume' must be non-negative (min {lowest})")
