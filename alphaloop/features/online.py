"""Features of the newest bar, updated one bar at a time from a rolling window.

:class:`OnlineFeatures` keeps the last ``window`` bars and, for each new bar, computes the
feature row that :func:`alphaloop.features.build_features` gives for the last row of those
same ``window`` bars (a test checks every column to 1e-9 relative). It does not recompute
the whole window: each TA-Lib call runs only on the tail its consumers need. A call whose
output depends on the whole window (exponential smoothing, Hilbert transforms, cumulative
sums: found once per plan by running it on a short and a long slice of the same series) runs
on the whole window; every other call on its own look-back plus what later calls and
columns read.

Window length is a trade-off the README measures: with the plan's longest look-back (598
bars for the default plan) the newest row equals the batch pipeline on those 598 bars, but
exponentially smoothed features still remember where the window starts (TEMA-200 differs
by up to 250% from the same bar's value in a feature file built on the full history); with
3,000 bars the largest difference is about 1e-9. The model was trained on full-history
features, so the trader's default window is the longer one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np

from alphaloop.features.config import FeatureConfig
from alphaloop.features.families import feature_plan
from alphaloop.features.plan import BASE_INPUTS, DERIVED_INPUTS, FeaturePlan, TalibCall

_PROBE_ROWS = 1500
_PROBE_TOL = 1e-9


def _probe_series(rows: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, rows)))
    open_ = np.r_[close[0], close[:-1]]
    spread = np.abs(rng.normal(0, 0.003, rows)) * close
    return {"open": open_, "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread, "close": close,
            "volume": rng.uniform(1, 1000, rows)}


@cache
def _memoryless(call: TalibCall) -> bool:
    """Whether the call's newest value depends only on its own look-back of input rows."""
    probe = _probe_series(_PROBE_ROWS)
    rng = np.random.default_rng(11)
    inputs = {n: probe[n] if n in probe else 1.0 + rng.random(_PROBE_ROWS) for n in call.inputs}
    full = call.run(inputs)
    short = call.run({n: a[-(call.lookback + 1):] for n, a in inputs.items()})
    for a, b in zip(full, short, strict=True):
        x, y = a[-1], b[-1]
        if not (np.isfinite(x) and np.isfinite(y)) or abs(x - y) > _PROBE_TOL * max(1.0, abs(x)):
            return False
    return True


@dataclass(frozen=True)
class _TailPlan:
    need: dict[str, int]  # trailing rows of each series that must be computed
    call_rows: tuple[int, ...]  # input rows each call runs on, in plan.calls order


def _tail_plan(plan: FeaturePlan, window: int) -> _TailPlan:
    need: dict[str, int] = {}

    def want(name: str, rows: int) -> None:
        need[name] = min(window, max(need.get(name, 0), rows))

    for f in plan.features:
        for operand in f.operands:
            want(operand, 1 + f.op.extra_lookback)
    rows_per_call = []
    for call in reversed(plan.calls):
        out = max(need.get(o, 0) for o in call.outputs)
        rows = window if not _memoryless(call) else min(window, out + call.lookback)
        rows_per_call.append(rows)
        for name in call.inputs:
            want(name, rows)
    for name in reversed(plan.derived_inputs):
        derived = DERIVED_INPUTS[name]
        for dep in derived.deps:
            want(dep, need.get(name, 0) + derived.lookback)
    return _TailPlan(need, tuple(reversed(rows_per_call)))


class OnlineFeatures:
    """The feature row of each new bar from the last ``window`` bars (see the module doc).

    Between the plan's minimum and ``window`` bars (after a cold start or :meth:`restart`)
    every bar held is used, which is exactly what the batch pipeline does on a segment that
    short.

    Args:
        config: The feature configuration the model was trained with.
        window: Bars kept; at least the plan's longest look-back plus one.
    """

    def __init__(self, config: FeatureConfig | None = None, window: int | None = None) -> None:
        self.plan = feature_plan(config)
        minimum = self.plan.max_lookback + 1
        self.window = window or minimum
        if self.window < minimum:
            raise ValueError(f"window must hold at least {minimum} bars (the feature plan's "
                             f"longest look-back plus one), got {self.window}")
        self.columns = self.plan.feature_columns
        self._tails = _tail_plan(self.plan, self.window)
        # Row-wise kernels (no look-back of their own) run once per kernel on the newest
        # values of all their columns, not once per column.
        groups: dict[int, list[int]] = {}
        self._lagged: list[int] = []
        for j, feature in enumerate(self.plan.features):
            if feature.op.extra_lookback:
                self._lagged.append(j)
            else:
                groups.setdefault(id(feature.op), []).append(j)
        self._groups = list(groups.values())
        # Twice the window, so appending is a write and a slice, and a copy every window bars.
        self._buffer = np.empty((2 * self.window, len(BASE_INPUTS)))
        self._end = 0

    @property
    def minimum(self) -> int:
        """Bars needed before the first feature row (the plan's longest look-back + 1)."""
        return self.plan.max_lookback + 1

    @property
    def ready(self) -> bool:
        return self._end >= self.minimum

    @property
    def bars(self) -> int:
        """Bars held (at most ``window``)."""
        return min(self._end, self.window)

    def restart(self) -> None:
        """Forget every bar (after a gap in the data, as the batch pipeline restarts)."""
        self._end = 0

    def update(self, bar: Mapping[str, float]) -> dict[str, float] | None:
        """Add one bar (``open, high, low, close, volume``); its features once warm."""
        self.extend(np.array([[float(bar[c]) for c in BASE_INPUTS]]))
        return self.latest() if self.ready else None

    def extend(self, bars: np.ndarray) -> None:
        """Append bars (rows of ``open, high, low, close, volume``) without computing features:
        a cold start seeds the window with history this way."""
        rows = np.asarray(bars, dtype=np.float64)[-self.window:]
        if self._end + len(rows) > len(self._buffer):
            keep = min(self._end, self.window - len(rows))
            self._buffer[:keep] = self._buffer[self._end - keep: self._end]
            self._end = keep
        self._buffer[self._end: self._end + len(rows)] = rows
        self._end += len(rows)

    def latest(self) -> dict[str, float]:
        """The feature row of the newest bar."""
        if not self.ready:
            raise ValueError(f"need {self.minimum} bars, have {self._end}")
        bars = self._buffer[max(0, self._end - self.window): self._end]
        need = self._tails.need
        series: dict[str, np.ndarray] = {
            c: np.ascontiguousarray(bars[-need.get(c, 1):, j]) for j, c in enumerate(BASE_INPUTS)}
        for name in self.plan.derived_inputs:
            rows = need.get(name, 1) + DERIVED_INPUTS[name].lookback
            tails = {d: series[d][-rows:] for d in DERIVED_INPUTS[name].deps}
            series[name] = DERIVED_INPUTS[name].compute(tails)[-need.get(name, 1):]
        for call, rows in zip(self.plan.calls, self._tails.call_rows, strict=True):
            outputs = call.run({n: np.ascontiguousarray(series[n][-rows:]) for n in call.inputs})
            for name, values in zip(call.outputs, outputs, strict=True):
                series[name] = values[-need.get(name, 1):]
        values = np.empty(len(self.plan.features))
        features = self.plan.features
        for group in self._groups:
            arity = len(features[group[0]].operands)
            operands = [np.array([series[features[j].operands[k]][-1] for j in group])
                        for k in range(arity)]
            out = np.empty(len(group))
            features[group[0]].op.kernel(out, *operands)
            values[group] = out
        for j in self._lagged:
            span = 1 + features[j].op.extra_lookback
            out = np.empty(span)
            features[j].op.kernel(out, *(series[n][-span:] for n in features[j].operands))
            values[j] = out[-1]
        return dict(zip(self.columns, values.tolist(), strict=True))
