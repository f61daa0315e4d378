"""Error metrics of the regime forecasts and the baselines they are judged against.

Baselines, all using only data known at each window's origin ``t`` (see ``data``):

- **persistence**: the next ``h`` bars repeat the last ``h``: return ``log(p[t] / p[t-h])``,
  volatility ``sqrt(sum(r[t-h+1 .. t]^2))``.
- **zero**: a ``h``-bar log return of 0 (the random-walk forecast).
- **train_mean**: the mean training target (return or volatility), a constant.
- **garch** (volatility only): a zero-mean GARCH(1,1) with normal errors from ``arch``, fitted
  on the training returns (×100 for arch's optimiser). The parameters stay fixed; the
  conditional variance is filtered through the later returns and, at each test origin
  ``t``, the ``h`` one-step variance forecasts made with returns up to ``r[t]`` are summed:
  ``vol = sqrt(sum_k E_t[sigma^2_{t+k}]) / 100``, k = 1..h. With a zero mean that is the
  forecast of ``E_t[sum r^2]``, the same quantity as the realised-volatility target.
"""

from __future__ import annotations

import math

import numpy as np

_GARCH_SCALE = 100.0


def regression_errors(actual: np.ndarray, forecast: np.ndarray) -> dict[str, float]:
    """Mean absolute and root mean squared error.

    Raises:
        ValueError: On empty or mismatched inputs.
    """
    a = np.asarray(actual, dtype=np.float64)
    f = np.asarray(forecast, dtype=np.float64)
    if a.shape != f.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"need equal-length 1-D arrays, got {a.shape} and {f.shape}")
    err = f - a
    return {"mae": float(np.abs(err).mean()), "rmse": float(math.sqrt(np.mean(err * err)))}


def directional_accuracy(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Share of windows whose forecast sign matches the realised return's sign.

    Windows with a realised return of exactly 0 are left out; a forecast of exactly 0 counts
    as a miss. NaN when no window is left.
    """
    a = np.asarray(actual, dtype=np.float64)
    f = np.asarray(forecast, dtype=np.float64)
    moved = a != 0.0
    if not moved.any():
        return math.nan
    return float(np.mean(np.sign(f[moved]) == np.sign(a[moved])))


def fit_garch(train_returns: np.ndarray) -> dict[str, float]:
    """Parameters (``omega``, ``alpha[1]``, ``beta[1]``) of a zero-mean GARCH(1,1).

    Args:
        train_returns: One-bar log returns of the training period (unscaled).
    """
    from arch import arch_model

    model = arch_model(np.asarray(train_returns, dtype=np.float64) * _GARCH_SCALE,
                       mean="Zero", vol="GARCH", p=1, q=1, dist="normal", rescale=False)
    result = model.fit(disp="off", show_warning=False)
    return {str(k): float(v) for k, v in result.params.items()}


def garch_volatility(returns: np.ndarray, params: dict[str, float], origins: np.ndarray,
                     horizon: int) -> np.ndarray:
    """``h``-bar volatility forecasts at each origin from fixed GARCH(1,1) parameters.

    Args:
        returns: One-bar log returns, ``returns[j]`` being the return of bar ``j + 1``
            (``data.log_returns`` of the closes). Only those up to the last origin are read.
        params: From ``fit_garch`` (fitted on returns before the first origin).
        origins: Bar indices (``>= 1``, increasing) at which to forecast.
        horizon: Bars ahead.

    Returns:
        ``sqrt`` of the summed ``h`` variance forecasts, in return units, one per origin.
    """
    from arch import arch_model

    origins = np.asarray(origins, dtype=np.int64)
    if origins.size == 0:
        return np.empty(0)
    if origins.min() < 1 or np.any(np.diff(origins) <= 0):
        raise ValueError("origins must be increasing bar indices >= 1")
    # Bar t's return is returns[t - 1]; nothing after the last origin is passed in.
    known = np.asarray(returns[: origins[-1]], dtype=np.float64) * _GARCH_SCALE
    fixed = arch_model(known, mean="Zero", vol="GARCH", p=1, q=1, dist="normal",
                       rescale=False).fix([params["omega"], params["alpha[1]"],
                                           params["beta[1]"]])
    start = int(origins[0]) - 1
    variance = fixed.forecast(horizon=horizon, start=start, reindex=False).variance
    rows = variance.to_numpy()[origins - 1 - start]
    return np.sqrt(rows.sum(axis=1)) / _GARCH_SCALE
