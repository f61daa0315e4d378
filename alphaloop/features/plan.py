"""The feature plan: every TA-Lib call and every column kernel of the feature set.

``build_features`` executes a plan and the benchmark replays its ``calls`` verbatim, so the
list of indicators lives here exactly once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

import numpy as np
import talib
from talib import abstract

from alphaloop.features.ops import Op

Array = np.ndarray
ParamValue = int | float

BASE_INPUTS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
# ~0.4 s each on 1M bars, 20-200x a typical call: worth starting first (see FeaturePlan.steps).
SLOW_FUNCTIONS: frozenset[str] = frozenset({"HT_DCPHASE", "HT_SINE", "HT_TRENDMODE"})


def _logret(s: Mapping[str, Array]) -> Array:
    lc = s["log_close"]
    out = np.empty_like(lc)
    out[0] = np.nan
    np.subtract(lc[1:], lc[:-1], out=out[1:])
    return out


def _hl_logsq(s: Mapping[str, Array]) -> Array:
    out = np.divide(s["high"], s["low"])
    np.log(out, out=out)
    np.square(out, out=out)
    return out


@dataclass(frozen=True)
class DerivedInput:
    """A series computed from the bars before any TA-Lib call (e.g. log close)."""

    deps: tuple[str, ...]
    compute: Callable[[Mapping[str, Array]], Array]
    lookback: int


# Insertion order is a valid evaluation order (dependencies come first).
DERIVED_INPUTS: dict[str, DerivedInput] = {
    "log_close": DerivedInput(("close",), lambda s: np.log(s["close"]), 0),
    "logret": DerivedInput(("log_close",), _logret, 1),
    "volume_nz": DerivedInput(("volume",), lambda s: (s["volume"] > 0.0).astype(np.float64), 0),
    "close_volume": DerivedInput(("close", "volume"), lambda s: s["close"] * s["volume"], 0),
    "hl_logsq": DerivedInput(("high", "low"), _hl_logsq, 0),
}


def _abstract_function(func: str) -> Any:
    # talib's abstract.pyi stub omits Function, though the module exports it.
    return abstract.Function(func)  # type: ignore[attr-defined]


@cache
def talib_lookback(func: str, params: tuple[tuple[str, ParamValue], ...]) -> int:
    """Rows TA-Lib needs before ``func`` with ``params`` emits its first value."""
    fn = _abstract_function(func)
    if params:
        fn.set_parameters(dict(params))
    return int(fn.lookback)


@dataclass(frozen=True)
class TalibCall:
    """One TA-Lib function invocation.

    Attributes:
        func: TA-Lib function name, e.g. ``"BBANDS"``.
        inputs: Names of the input series, in TA-Lib's positional order.
        params: Keyword parameters as ``(name, value)`` pairs.
        outputs: Names under which each output array is published to later steps.
    """

    func: str
    inputs: tuple[str, ...]
    params: tuple[tuple[str, ParamValue], ...]
    outputs: tuple[str, ...]

    @cached_property
    def kwargs(self) -> dict[str, ParamValue]:
        """Parameters as keyword arguments."""
        return dict(self.params)

    @property
    def lookback(self) -> int:
        """TA-Lib's own look-back for this parameter set."""
        return talib_lookback(self.func, self.params)

    def run(self, series: Mapping[str, Array]) -> tuple[Array, ...]:
        """Call TA-Lib on the named input arrays.

        Args:
            series: Contiguous float64 arrays keyed by name; must hold every input.

        Returns:
            One array per entry of ``outputs``.
        """
        result = _raw_function(self.func)(*(series[n] for n in self.inputs), **self.kwargs)
        return result if isinstance(result, tuple) else (result,)


@cache
def _raw_function(func: str) -> Callable[..., Any]:
    """TA-Lib's compiled function without its pandas/polars wrapper (inputs here are always
    float64 arrays; the wrapper's type checks cost several microseconds a call)."""
    wrapped = getattr(talib, func)
    raw: Callable[..., Any] = getattr(wrapped, "__wrapped__", wrapped)
    return raw


@dataclass(frozen=True)
class FeatureSpec:
    """One output column: ``op`` applied to named series.

    Attributes:
        name: Column name, e.g. ``"rsi_14"``.
        op: Kernel writing the column.
        operands: Names of the series (base, derived or TA-Lib outputs) the kernel reads.
    """

    name: str
    op: Op
    operands: tuple[str, ...]


@dataclass(frozen=True)
class Step:
    """One execution step: an optional TA-Lib call, then the features it completes.

    Attributes:
        call: The TA-Lib call, or None (last step) for features needing no TA-Lib output.
        features: Indices into ``FeaturePlan.features`` that become computable.
        release: Series names no later step reads (freed to cap peak memory).
    """

    call: TalibCall | None
    features: tuple[int, ...]
    release: tuple[str, ...]


@dataclass(frozen=True)
class FeaturePlan:
    """Everything ``build_features`` computes, in execution order.

    Attributes:
        derived_inputs: Derived series needed, in evaluation order.
        calls: TA-Lib calls in dependency order (duplicates already merged).
        features: Output columns in their final order.
    """

    derived_inputs: tuple[str, ...]
    calls: tuple[TalibCall, ...]
    features: tuple[FeatureSpec, ...]
    origins: tuple[str, ...] = ()  # per feature: the params key that asked for it

    @property
    def feature_columns(self) -> list[str]:
        """Output column names in order."""
        return [f.name for f in self.features]

    @cached_property
    def series_lookbacks(self) -> dict[str, int]:
        """Leading NaN rows of every input, derived series and TA-Lib output, by name."""
        lb: dict[str, int] = dict.fromkeys(BASE_INPUTS, 0)
        for name in self.derived_inputs:
            d = DERIVED_INPUTS[name]
            lb[name] = max(lb[dep] for dep in d.deps) + d.lookback
        for call in self.calls:
            own = max(lb[n] for n in call.inputs) + call.lookback
            lb.update(dict.fromkeys(call.outputs, own))
        return lb

    @cached_property
    def feature_lookbacks(self) -> dict[str, int]:
        """Leading undefined rows of every feature column, by column name."""
        lb = self.series_lookbacks
        return {f.name: max(lb[n] for n in f.operands) + f.op.extra_lookback for f in self.features}

    @property
    def max_lookback(self) -> int:
        """Rows before the first row where every feature is defined."""
        return max(self.feature_lookbacks.values())

    def longest(self) -> tuple[str, int, str]:
        """The feature with the longest look-back, its look-back and the key behind it."""
        lookbacks = self.feature_lookbacks
        j = max(range(len(self.features)), key=lambda i: lookbacks[self.features[i].name])
        name = self.features[j].name
        return name, lookbacks[name], self.origins[j] if self.origins else "features"

    @cached_property
    def steps(self) -> tuple[Step, ...]:
        """Execution order: each TA-Lib call with the features it completes.

        The slowest calls that read only the bars run first and features that need no
        TA-Lib output run in a final call-less step: both give the output buffer's page
        faults (overlapped on a helper thread by ``build_features``) a head start. Each
        step also lists the series no later step reads, so they can be freed.
        """
        order = sorted(self.calls, key=lambda c: not _runs_early(c))  # stable
        final = len(order)
        producer = {out: i for i, call in enumerate(order) for out in call.outputs}
        ready: list[list[int]] = [[] for _ in range(final + 1)]
        last_use: dict[str, int] = {}
        for i, call in enumerate(order):
            last_use.update(dict.fromkeys(call.inputs, i))
        for j, f in enumerate(self.features):
            at = max((producer[n] for n in f.operands if n in producer), default=final)
            ready[at].append(j)
            for n in f.operands:
                last_use[n] = max(last_use.get(n, 0), at)
        release: list[list[str]] = [[] for _ in range(final + 1)]
        for name, at in last_use.items():
            release[at].append(name)
        calls: list[TalibCall | None] = [*order, None]
        return tuple(
            Step(c, tuple(r), tuple(sorted(rel)))
            for c, r, rel in zip(calls, ready, release, strict=True)
        )


def _runs_early(call: TalibCall) -> bool:
    roots = (*BASE_INPUTS, *DERIVED_INPUTS)
    return call.func in SLOW_FUNCTIONS and all(n in roots for n in call.inputs)


class PlanBuilder:
    """Accumulates TA-Lib calls (merging duplicates) and feature columns."""

    def __init__(self) -> None:
        self._calls: dict[tuple[object, ...], TalibCall] = {}
        self._features: list[FeatureSpec] = []
        self._origins: list[str] = []
        self._derived: set[str] = set()
        self.origin = "features"  # the params key of the family being added

    def ta(self, func: str, *inputs: str, **params: ParamValue) -> tuple[str, ...]:
        """Register a TA-Lib call and return the names of its outputs."""
        self._use(inputs)
        items = tuple(sorted(params.items()))
        key = (func, inputs, items)
        if key not in self._calls:
            tag = ",".join([*inputs, *(f"{k}={v}" for k, v in items)])
            outs = tuple(f"{func}({tag}).{o}" for o in _abstract_function(func).output_names)
            self._calls[key] = TalibCall(func, inputs, items, outs)
        return self._calls[key].outputs

    def ta1(self, func: str, *inputs: str, **params: ParamValue) -> str:
        """Register a single-output TA-Lib call and return its output name."""
        (out,) = self.ta(func, *inputs, **params)
        return out

    def add(self, name: str, op: Op, *operands: str) -> None:
        """Register a feature column computed by ``op`` from ``operands``."""
        self._use(operands)
        self._features.append(FeatureSpec(name, op, operands))
        self._origins.append(self.origin)

    def _use(self, names: tuple[str, ...]) -> None:
        for n in names:
            if n in DERIVED_INPUTS and n not in self._derived:
                self._use(DERIVED_INPUTS[n].deps)
                self._derived.add(n)

    def build(self) -> FeaturePlan:
        """Freeze into a plan; raises ValueError on duplicate column names."""
        counts = Counter(f.name for f in self._features)
        dupes = sorted(n for n, c in counts.items() if c > 1)
        if dupes:
            raise ValueError(f"duplicate feature columns: {dupes}")
        derived = tuple(n for n in DERIVED_INPUTS if n in self._derived)
        return FeaturePlan(derived, tuple(self._calls.values()), tuple(self._features),
                           tuple(self._origins))
