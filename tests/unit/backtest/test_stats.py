"""Performance statistics: hand-computed values, vectorbt's definitions, deflated Sharpe."""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from alphaloop.backtest import (
    compute_stats,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    infer_periods_per_year,
    max_drawdown,
    periods_per_year_for,
    probabilistic_sharpe_ratio,
    return_stats,
    sharpe_ratio,
    sortino_ratio,
)

N = NormalDist()
EULER_GAMMA = 0.5772156649015329


def test_sharpe_by_hand() -> None:
    r = np.array([0.01, -0.01, 0.02])
    mean = 0.02 / 3
    std = math.sqrt(((0.01 - mean) ** 2 + (-0.01 - mean) ** 2 + (0.02 - mean) ** 2) / 2)
    assert sharpe_ratio(r) == pytest.approx(mean / std)
    assert sharpe_ratio(r, periods_per_year=4) == pytest.approx(2 * mean / std)


def test_sortino_by_hand() -> None:
    r = np.array([0.02, -0.01, 0.03, -0.02])
    downside = math.sqrt((0.01**2 + 0.02**2) / 4)
    assert sortino_ratio(r) == pytest.approx(0.005 / downside)
    assert sortino_ratio(r, 9) == pytest.approx(3 * 0.005 / downside)


def test_degenerate_ratios() -> None:
    assert sharpe_ratio(np.zeros(10)) == 0.0
    assert sortino_ratio(np.zeros(10)) == 0.0
    assert sortino_ratio(np.array([0.01, 0.02])) == math.inf
    assert math.isnan(sharpe_ratio(np.array([0.01])))


def test_max_drawdown_by_hand() -> None:
    # Equity 1.1, 0.88, 0.924, 0.8316: the peak 1.1 falls to 0.8316.
    assert max_drawdown(np.array([0.1, -0.2, 0.05, -0.1])) == pytest.approx(1 - 0.8316 / 1.1)
    # The starting equity is a peak: a first-bar loss is a drawdown.
    assert max_drawdown(np.array([-0.1, 0.05])) == pytest.approx(0.1)
    assert max_drawdown(np.array([0.1, 0.2])) == 0.0


def test_return_stats_by_hand() -> None:
    r = np.array([0.1, -0.2, 0.05, -0.1])
    out = return_stats(r, periods_per_year=4)  # one year of bars: CAGR = total return
    total = 1.1 * 0.8 * 1.05 * 0.9 - 1
    assert out["total_return"] == pytest.approx(total)
    assert out["cagr"] == pytest.approx(total)
    assert out["max_drawdown"] == pytest.approx(1 - 0.8316 / 1.1)
    assert out["calmar"] == pytest.approx(total / (1 - 0.8316 / 1.1))
    assert out["volatility"] == pytest.approx(np.std(r, ddof=1) * 2)
    assert out["n_bars"] == 4
    half_year = return_stats(r, periods_per_year=2)
    assert half_year["cagr"] == pytest.approx((1 + total) ** 0.5 - 1)


def test_trading_stats_by_hand() -> None:
    positions = np.array([1.0, 1.0, 0.0, 0.0, -1.0])
    turnover = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    returns = np.array([-0.001, 0.02, -0.011, 0.0, -0.001])
    out = compute_stats(returns, positions, turnover, periods_per_year=5)
    # Bars in the market: 0 (entry cost), 1 (held), 2 (held + exit), 4 (entry cost).
    assert out["win_rate"] == pytest.approx(1 / 4)
    assert out["profit_factor"] == pytest.approx(0.02 / 0.013)
    assert out["exposure"] == pytest.approx(3 / 5)
    assert out["trades"] == 3
    assert out["turnover"] == pytest.approx(3.0)  # 3 x equity over 5 bars = one year


def test_sharpe_sortino_drawdown_match_vectorbt() -> None:
    pytest.importorskip("vectorbt")  # registers the .vbt accessor
    rng = np.random.default_rng(3)
    index = pd.date_range("2024-01-01", periods=2000, freq="15min", tz="UTC")
    r = pd.Series(rng.standard_t(4, 2000) * 0.003 + 0.0002, index=index)
    accessor = r.vbt.returns(freq="15min")  # vectorbt's year is 365 days: 35040 bars
    ppy = periods_per_year_for("15m")
    assert sharpe_ratio(r.to_numpy(), ppy) == pytest.approx(accessor.sharpe_ratio(), rel=1e-9)
    assert sortino_ratio(r.to_numpy(), ppy) == pytest.approx(accessor.sortino_ratio(), rel=1e-9)
    ours = return_stats(r.to_numpy(), ppy)
    assert ours["cagr"] == pytest.approx(accessor.annualized(), rel=1e-9)
    assert ours["volatility"] == pytest.approx(accessor.annualized_volatility(), rel=1e-9)
    # vectorbt's drawdown starts from the first bar's equity, ours from the initial 1; with a
    # first-bar gain the two agree.
    r.iloc[0] = abs(r.iloc[0])
    assert max_drawdown(r.to_numpy()) == pytest.approx(-accessor.max_drawdown(), rel=1e-9)


def test_periods_per_year_for() -> None:
    assert periods_per_year_for("15m") == pytest.approx(35_040)
    assert periods_per_year_for("1h") == pytest.approx(8_760)
    assert periods_per_year_for("1d") == pytest.approx(365)
    assert periods_per_year_for("1d", session="business_days") == pytest.approx(252)
    assert periods_per_year_for("1w", session="business_days") == pytest.approx(50.4)
    assert periods_per_year_for("15m", "business_days", hours_per_session=6.5) == pytest.approx(
        252 * 26
    )
    with pytest.raises(ValueError, match="session"):
        periods_per_year_for("1d", session="weekends")
    with pytest.raises(ValueError, match="timeframe"):
        periods_per_year_for("15x")


def test_infer_periods_per_year() -> None:
    index = pd.date_range("2024-01-01", periods=10, freq="15min", tz="UTC")
    assert infer_periods_per_year(index) == pytest.approx(35_040)
    with pytest.raises(ValueError):
        infer_periods_per_year(index[:1])


def test_zero_sharpe_gives_one_half() -> None:
    r = np.tile([0.01, -0.01], 50)
    assert sharpe_ratio(r) == pytest.approx(0.0, abs=1e-15)
    assert deflated_sharpe_ratio(r) == pytest.approx(0.5)
    assert probabilistic_sharpe_ratio(0.0, 100, skew=-2.0, kurtosis=9.0) == pytest.approx(0.5)


def test_psr_by_hand() -> None:
    # SR 0.1 per bar over 100 normal returns: z = 0.1 * sqrt(99) / sqrt(1 + 0.5 * 0.01).
    expected = N.cdf(0.1 * math.sqrt(99) / math.sqrt(1.005))
    assert probabilistic_sharpe_ratio(0.1, 100, 0.0, 3.0) == pytest.approx(expected)
    assert expected == pytest.approx(0.8395, abs=1e-4)
    # Negative skew and fat tails widen the Sharpe estimate's error and lower the PSR.
    assert probabilistic_sharpe_ratio(0.1, 100, -2.0, 10.0) < expected


def test_expected_max_sharpe_by_hand() -> None:
    assert expected_max_sharpe(1, 1.0) == 0.0
    z1, z2 = N.inv_cdf(1 - 1 / 100), N.inv_cdf(1 - 1 / (100 * math.e))
    expected = 0.5 * ((1 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)
    assert expected_max_sharpe(100, 0.25) == pytest.approx(expected)
    assert expected == pytest.approx(1.2652, abs=1e-3)
    with pytest.raises(ValueError):
        expected_max_sharpe(0, 1.0)


def test_deflated_sharpe_falls_with_more_trials() -> None:
    rng = np.random.default_rng(5)
    r = rng.normal(0.001, 0.01, 1000)
    variance = 0.05**2
    psr = deflated_sharpe_ratio(r)
    values = [deflated_sharpe_ratio(r, n, variance) for n in (1, 2, 10, 100, 1000)]
    assert values[0] == psr
    assert all(a > b for a, b in itertools.pairwise(values))
    assert deflated_sharpe_ratio(r, 100, 0.0) == psr  # no spread across trials: no deflation


def test_deflated_sharpe_matches_the_formula() -> None:
    rng = np.random.default_rng(6)
    r = rng.standard_t(5, 500) * 0.01 + 0.002
    sr = r.mean() / r.std(ddof=1)
    skew, kurt = sps.skew(r), sps.kurtosis(r, fisher=False)
    benchmark = math.sqrt(0.01) * (
        (1 - EULER_GAMMA) * N.inv_cdf(1 - 1 / 20) + EULER_GAMMA * N.inv_cdf(1 - 1 / (20 * math.e))
    )
    z = (sr - benchmark) * math.sqrt(499) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    assert deflated_sharpe_ratio(r, n_trials=20, sharpe_variance=0.01) == pytest.approx(N.cdf(z))
