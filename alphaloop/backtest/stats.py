"""Performance statistics of a per-bar return series, and the deflated Sharpe ratio.

Conventions (``r`` is the per-bar return series, ``ppy`` the bars per year):

- ``sharpe = mean(r) / std(r, ddof=1) * sqrt(ppy)`` (risk-free rate 0), and
  ``sortino = mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(ppy)``: the same definitions as
  vectorbt's returns accessor. A ratio whose denominator is 0 is 0 when its numerator is 0
  and ±inf otherwise (a strategy that never trades has Sharpe 0).
- ``max_drawdown`` is the largest peak-to-trough loss of equity as a positive fraction
  (0.2 = 20%); the starting equity of 1 counts as a peak.
- ``cagr = (1 + total_return) ** (ppy / n_bars) - 1`` and ``calmar = cagr / max_drawdown``.
- ``win_rate`` and ``profit_factor`` are per bar in the market: bars that earn a position's
  return or pay for an order. ``win_rate`` is the share of those bars with a positive
  return; ``profit_factor`` is the sum of positive returns over the sum of |negative| ones.
- ``exposure`` is the share of bars with a non-zero target position; ``turnover`` the traded
  notional per year, in multiples of equity; ``trades`` the number of orders.
- ``deflated_sharpe`` is the probability that the true Sharpe ratio exceeds 0 after the
  correction of Bailey and López de Prado (2014) for the number of trials and for
  non-normal returns (see :func:`deflated_sharpe_ratio`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps

_SECONDS_PER_YEAR = 365.0 * 86_400.0
_EULER_GAMMA = 0.5772156649015329


def periods_per_year_for(
    timeframe: str, session: str = "continuous", hours_per_session: float = 24.0,
    *, span: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> float:
    """Bars per year for a timeframe in a session, used to annualise statistics.

    Args:
        timeframe: ccxt-style bar length (``15m``, ``1h``, ``1d``, ``1w``).
        session: ``"continuous"`` (24/7 markets such as crypto: 365 days a year), ``"fx"``
            (52 weeks of 5 x 24 h: 6,240 hours), ``"business_days"`` (252 trading days a
            year) or an exchange calendar name (``XNYS``: its own bars per year).
        hours_per_session: Trading hours per business day, for intraday bars of a
            ``business_days`` market (6.5 for US equities).
        span: First and last bar, for an exchange calendar's count (default: last year).

    Returns:
        For example 35040 for ``15m`` continuous, 6240 for ``1h`` fx and 252 for ``1d``
        business days.

    Raises:
        ValueError: For an unknown timeframe or session.
    """
    from alphaloop.data.sessions import bars_per_year

    return bars_per_year(timeframe, session, span, hours_per_session)


def infer_periods_per_year(timestamps: pd.Series | pd.Index) -> float:
    """Bars per year of a continuous market, from the median step between timestamps."""
    if not isinstance(timestamps, pd.DatetimeIndex | pd.Series):
        raise ValueError("pass periods_per_year: the index holds no timestamps to infer it")
    values = pd.DatetimeIndex(timestamps)
    if len(values) < 2:
        raise ValueError("cannot infer the bar frequency from fewer than two timestamps")
    step = pd.Series(values).diff().median()
    if pd.isna(step) or step <= pd.Timedelta(0):
        raise ValueError("cannot infer the bar frequency: timestamps are not increasing")
    return _SECONDS_PER_YEAR / step.total_seconds()


def _ratio(numerator: float, denominator: float) -> float:
    if denominator == 0.0 or math.isnan(denominator):
        return 0.0 if numerator == 0.0 else math.copysign(math.inf, numerator)
    return numerator / denominator


def sharpe_ratio(returns: np.ndarray, periods_per_year: float = 1.0) -> float:
    """Annualised Sharpe ratio (risk-free 0, ``ddof=1``); per bar when ``periods_per_year=1``."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        return math.nan
    return _ratio(float(r.mean()), float(r.std(ddof=1))) * math.sqrt(periods_per_year)


def sortino_ratio(returns: np.ndarray, periods_per_year: float = 1.0) -> float:
    """Annualised Sortino ratio: mean over the root mean square of the negative returns."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        return math.nan
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    return _ratio(float(r.mean()), downside) * math.sqrt(periods_per_year)


def drawdown(returns: np.ndarray) -> np.ndarray:
    """Drawdown per bar (``<= 0``) of the equity curve ``cumprod(1 + r)`` starting at 1."""
    equity = np.cumprod(1.0 + np.asarray(returns, dtype=np.float64))
    peak = np.maximum(np.maximum.accumulate(equity), 1.0)
    return equity / peak - 1.0


def max_drawdown(returns: np.ndarray) -> float:
    """Largest peak-to-trough loss as a positive fraction; 0 for an empty series."""
    r = np.asarray(returns, dtype=np.float64)
    return float(-drawdown(r).min()) if r.size else 0.0


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """Expected maximum of ``n_trials`` Sharpe estimates whose true value is 0.

    Bailey and López de Prado (2014), eq. (2):
    ``sqrt(V) * ((1 - γ) Φ⁻¹(1 - 1/N) + γ Φ⁻¹(1 - 1/(N e)))`` with γ the Euler-Mascheroni
    constant. It is 0 for a single trial.

    Args:
        n_trials: Number of (independent) strategy variants tried, ``>= 1``.
        sharpe_variance: Variance of the trials' Sharpe ratios, in the units of the Sharpe
            ratio being deflated (per bar for :func:`deflated_sharpe_ratio`).
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    if sharpe_variance < 0:
        raise ValueError(f"sharpe_variance must be non-negative, got {sharpe_variance}")
    if n_trials == 1:
        return 0.0
    z1 = sps.norm.ppf(1.0 - 1.0 / n_trials)
    z2 = sps.norm.ppf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(sharpe_variance) * ((1.0 - _EULER_GAMMA) * z1 + _EULER_GAMMA * z2)


def probabilistic_sharpe_ratio(
    sharpe: float, n_obs: int, skew: float, kurtosis: float, benchmark: float = 0.0
) -> float:
    """P(true Sharpe > ``benchmark``) for an estimate from ``n_obs`` returns (PSR).

    ``Φ((SR - SR*) sqrt(T - 1) / sqrt(1 - γ3 SR + (γ4 - 1) / 4 SR²))``, all Sharpe ratios
    per bar (not annualised).

    Args:
        sharpe: Estimated per-bar Sharpe ratio.
        n_obs: Number of returns ``T`` it was estimated from.
        skew: Skewness ``γ3`` of the returns.
        kurtosis: Kurtosis ``γ4`` of the returns (3 for normal returns, not excess).
        benchmark: The Sharpe ratio ``SR*`` to beat, per bar.
    """
    if n_obs < 2 or not math.isfinite(sharpe):
        return math.nan
    variance = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if not variance > 0.0:
        return math.nan
    z = (sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(variance)
    return float(sps.norm.cdf(z))


def deflated_sharpe_ratio(
    returns: np.ndarray, n_trials: int = 1, sharpe_variance: float = 0.0
) -> float:
    """Deflated Sharpe ratio (Bailey and López de Prado, 2014) of a per-bar return series.

    The probability that the strategy's true Sharpe ratio is above 0, given that it was the
    best of ``n_trials`` tries: the PSR against the expected maximum Sharpe of ``n_trials``
    skill-less trials, with the sample skewness and kurtosis of ``returns``. With
    ``n_trials=1`` (or a zero variance) it is the PSR against 0; a Sharpe of exactly 0 then
    gives 0.5.

    Args:
        returns: Per-bar returns of the selected strategy.
        n_trials: Number of strategy variants tried (parameter combinations, models...).
        sharpe_variance: Variance across the trials of their **per-bar** Sharpe ratios
            (an annualised variance divided by ``periods_per_year``).
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 3:
        return math.nan
    sharpe = sharpe_ratio(r)
    if r.std() == 0.0:
        skew, kurt = 0.0, 3.0
    else:
        skew = float(sps.skew(r))
        kurt = float(sps.kurtosis(r, fisher=False))
    benchmark = expected_max_sharpe(n_trials, sharpe_variance)
    return probabilistic_sharpe_ratio(sharpe, r.size, skew, kurt, benchmark)


def return_stats(returns: np.ndarray, periods_per_year: float) -> dict[str, float]:
    """Statistics that need only the per-bar returns.

    Returns:
        ``total_return, cagr, volatility, sharpe, sortino, max_drawdown, calmar,
        deflated_sharpe`` (the last with a single trial) and ``n_bars``.
    """
    r = np.asarray(returns, dtype=np.float64)
    n = r.size
    total = float(np.prod(1.0 + r) - 1.0) if n else 0.0
    if n == 0:
        cagr = 0.0
    elif total <= -1.0:
        cagr = -1.0  # equity wiped out: no real-valued growth rate
    else:
        cagr = (1.0 + total) ** (periods_per_year / n) - 1.0
    mdd = max_drawdown(r)
    return {
        "total_return": total,
        "cagr": cagr,
        "volatility": float(r.std(ddof=1) * math.sqrt(periods_per_year)) if n > 1 else math.nan,
        "sharpe": sharpe_ratio(r, periods_per_year),
        "sortino": sortino_ratio(r, periods_per_year),
        "max_drawdown": mdd,
        "calmar": _ratio(cagr, mdd),
        "deflated_sharpe": deflated_sharpe_ratio(r),
        "n_bars": float(n),
    }


def compute_stats(
    returns: np.ndarray,
    positions: np.ndarray,
    turnover: np.ndarray,
    periods_per_year: float,
    *,
    held: np.ndarray | None = None,
) -> dict[str, float]:
    """All statistics of a backtest (see the module docstring for the definitions).

    Args:
        returns: Per-bar net returns.
        positions: Target position per bar (signed fraction of equity).
        turnover: Notional traded per bar, in multiples of equity.
        periods_per_year: Bars per year.
        held: Which bars' returns include a held position's market move; defaults to the
            bars after a non-zero target (``positions[t - 1] != 0``).

    Returns:
        :func:`return_stats` plus ``win_rate, profit_factor, exposure, turnover, trades``.
    """
    r = np.asarray(returns, dtype=np.float64)
    w = np.asarray(positions, dtype=np.float64)
    traded = np.asarray(turnover, dtype=np.float64)
    if not r.shape == w.shape == traded.shape:
        raise ValueError("returns, positions and turnover must have the same length")
    out = return_stats(r, periods_per_year)
    if held is None:
        held = np.r_[False, w[:-1] != 0.0] if w.size else np.zeros(0, dtype=bool)
    active = r[np.asarray(held, dtype=bool) | (traded > 0.0)]
    gains = float(active[active > 0].sum())
    losses = float(-active[active < 0].sum())
    out["win_rate"] = float((active > 0).mean()) if active.size else math.nan
    out["profit_factor"] = _ratio(gains, losses) if active.size else math.nan
    out["exposure"] = float((w != 0.0).mean()) if w.size else 0.0
    out["turnover"] = float(traded.sum() / r.size * periods_per_year) if r.size else 0.0
    out["trades"] = float(np.count_nonzero(traded > 0.0))
    return out
