"""Column kernels that turn raw TA-Lib outputs into scale-free feature columns.

Every kernel writes into a preallocated ``out`` column (a contiguous float64 view into the
feature matrix) so building the feature set never allocates a full-size temporary per
column. All kernels are strictly causal: ``out[t]`` depends only on operand rows ``<= t``.
Rows inside an operand's warm-up may hold garbage here; the executor overwrites each
column's look-back prefix with NaN afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Array = np.ndarray
Kernel = Callable[..., None]


@dataclass(frozen=True)
class Op:
    """A column kernel plus the extra look-back (rows) it adds on top of its operands.

    Attributes:
        name: Short identifier, used in reprs and error messages.
        kernel: ``kernel(out, *operands)`` writing the feature into ``out``.
        extra_lookback: Rows the kernel itself looks back (e.g. ``k`` for a lag of ``k``).
    """

    name: str
    kernel: Kernel
    extra_lookback: int = 0


def _copy(out: Array, a: Array) -> None:
    np.copyto(out, a, casting="safe")


def _ratio_m1(out: Array, a: Array, b: Array) -> None:
    np.divide(a, b, out=out)
    out -= 1.0


def _div(out: Array, a: Array, b: Array) -> None:
    np.divide(a, b, out=out)


def _spread_ratio(out: Array, a: Array, b: Array, den: Array) -> None:
    np.subtract(a, b, out=out)
    out /= den


def _upper_shadow(out: Array, o: Array, h: Array, c: Array) -> None:
    np.maximum(o, c, out=out)
    np.subtract(h, out, out=out)
    out /= c


def _lower_shadow(out: Array, o: Array, low: Array, c: Array) -> None:
    np.minimum(o, c, out=out)
    out -= low
    out /= c


def _gap(out: Array, o: Array, c: Array) -> None:
    out[0] = np.nan
    np.divide(o[1:], c[:-1], out=out[1:])
    out[1:] -= 1.0


def _pct_b(out: Array, c: Array, upper: Array, lower: Array) -> None:
    # A flat window collapses the bands; the close then sits in the middle (0.5).
    width = np.subtract(upper, lower)
    valid = width > 0.0
    out.fill(0.5)
    np.subtract(c, lower, out=out, where=valid)
    np.divide(out, width, out=out, where=valid)


def _masked_div(out: Array, a: Array, b: Array, count: Array) -> None:
    # ``count`` is a rolling count of non-zero volume bars: an all-zero window has no
    # meaningful denominator (TA-Lib's running sums may leave ~1e-17 residue), so emit 0.
    valid = count > 0.5
    out.fill(0.0)
    np.divide(a, b, out=out, where=valid)


def _flow(out: Array, a: Array, b: Array, count: Array) -> None:
    _masked_div(out, a, b, count)
    np.clip(out, -1.0, 1.0, out=out)  # exact value is in [-1, 1]; clip rounding residue


def _vwap_ratio(out: Array, c: Array, sum_v: Array, sum_cv: Array, count: Array) -> None:
    valid = count > 0.5
    out.fill(0.0)
    np.multiply(c, sum_v, out=out, where=valid)
    np.divide(out, sum_cv, out=out, where=valid)
    np.subtract(out, 1.0, out=out, where=valid)


def _sqrt_scaled(k: float) -> Kernel:
    def kernel(out: Array, a: Array) -> None:
        np.maximum(a, 0.0, out=out)  # running-sum residue can dip below zero
        out *= k
        np.sqrt(out, out=out)

    return kernel


def _scale(k: float) -> Kernel:
    def kernel(out: Array, a: Array) -> None:
        np.multiply(a, k, out=out)

    return kernel


def _zscore(bound: float) -> Kernel:
    def kernel(out: Array, x: Array, mean: Array, std: Array, count: Array) -> None:
        valid = (count > 0.5) & (std > 0.0)
        out.fill(0.0)
        np.subtract(x, mean, out=out, where=valid)
        np.divide(out, std, out=out, where=valid)
        # |z| <= sqrt(p - 1) holds exactly for a population std; clip float residue.
        np.clip(out, -bound, bound, out=out)

    return kernel


def _lag(k: int) -> Kernel:
    def kernel(out: Array, a: Array) -> None:
        out[:k] = np.nan
        out[k:] = a[:-k]

    return kernel


def _diff(k: int) -> Kernel:
    def kernel(out: Array, a: Array) -> None:
        out[:k] = np.nan
        np.subtract(a[k:], a[:-k], out=out[k:])

    return kernel


COPY = Op("copy", _copy)
RATIO_M1 = Op("ratio_m1", _ratio_m1)
DIV = Op("div", _div)
SPREAD_RATIO = Op("spread_ratio", _spread_ratio)
UPPER_SHADOW = Op("upper_shadow", _upper_shadow)
LOWER_SHADOW = Op("lower_shadow", _lower_shadow)
GAP = Op("gap", _gap, extra_lookback=1)
PCT_B = Op("pct_b", _pct_b)
MASKED_DIV = Op("masked_div", _masked_div)
FLOW = Op("flow", _flow)
VWAP_RATIO = Op("vwap_ratio", _vwap_ratio)
PARKINSON = Op("parkinson", _sqrt_scaled(1.0 / (4.0 * math.log(2.0))))
CANDLE = Op("candle", _scale(0.01))  # TA-Lib patterns are multiples of 100


def zscore(period: int) -> Op:
    """Z-score of a value against its rolling mean/std over ``period`` bars."""
    return Op(f"zscore{period}", _zscore(math.sqrt(period - 1)))


def lag(k: int) -> Op:
    """Value ``k`` rows earlier."""
    return Op(f"lag{k}", _lag(k), extra_lookback=k)


def diff(k: int) -> Op:
    """Difference with the value ``k`` rows earlier."""
    return Op(f"diff{k}", _diff(k), extra_lookback=k)
