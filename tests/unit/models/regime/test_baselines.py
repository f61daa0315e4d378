"""Error metrics, directional accuracy and the GARCH(1,1) volatility baseline."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alphaloop.models.regime.baselines import (
    directional_accuracy,
    fit_garch,
    garch_volatility,
    regression_errors,
)
from alphaloop.models.regime.report import label_regime


def test_regression_errors_by_hand() -> None:
    errors = regression_errors(np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0]))
    assert errors["mae"] == pytest.approx(1.0)
    assert errors["rmse"] == pytest.approx(math.sqrt(5.0 / 3.0))
    with pytest.raises(ValueError):
        regression_errors(np.zeros(3), np.zeros(2))


def test_directional_accuracy_skips_zero_moves() -> None:
    actual = np.array([0.01, -0.02, 0.0, 0.03, -0.01])
    forecast = np.array([0.5, 0.1, 0.3, 0.0, -0.2])
    # Kept: rows 0, 1, 3, 4; hits: 0 and 4 (a zero forecast is a miss).
    assert directional_accuracy(actual, forecast) == pytest.approx(0.5)
    assert math.isnan(directional_accuracy(np.zeros(3), np.ones(3)))


def _garch_returns(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    omega, alpha, beta = 2e-7, 0.1, 0.85
    var, out = omega / (1 - alpha - beta), np.empty(n)
    for i in range(n):
        out[i] = math.sqrt(var) * rng.standard_normal()
        var = omega + alpha * out[i] ** 2 + beta * var
    return out


def test_garch_baseline_is_finite_and_causal() -> None:
    returns = _garch_returns(1500)
    params = fit_garch(returns[:1000])
    assert set(params) == {"omega", "alpha[1]", "beta[1]"}
    origins = np.arange(1100, 1500)
    vol = garch_volatility(returns, params, origins, horizon=4)
    assert vol.shape == (400,) and np.isfinite(vol).all() and (vol > 0).all()
    # Same order as the realised 4-bar volatility of these returns.
    assert 0.3 < vol.mean() / (2 * returns.std()) < 3.0
    # Changing returns after an origin leaves that origin's forecast unchanged.
    shocked = returns.copy()
    shocked[1300:] *= 10.0  # returns of bars 1301 onwards
    moved = garch_volatility(shocked, params, origins, horizon=4)
    known = origins <= 1300
    np.testing.assert_array_equal(moved[known], vol[known])
    assert moved[~known].mean() > 2 * vol[~known].mean()


def test_garch_refuses_bad_origins() -> None:
    returns = _garch_returns(300)
    params = fit_garch(returns[:200])
    with pytest.raises(ValueError, match="increasing"):
        garch_volatility(returns, params, np.array([250, 240]), horizon=2)


@pytest.mark.parametrize(("value", "vol", "expected"), [
    (0.002, None, "bull"),
    (-0.002, None, "bear"),
    (0.0005, None, "sideways"),
    (-0.0009, 0.004, "sideways"),
    (0.002, 0.006, "bull"),
    (0.002, 0.02, "high_vol"),
    (-0.002, 0.0101, "high_vol"),
    (0.001, 0.01, "sideways"),  # thresholds are strict: equal is not above
])
def test_label_regime(value: float, vol: float | None, expected: str) -> None:
    assert label_regime(value, vol, 0.001, -0.001, 0.01) == expected


def test_label_regime_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="finite"):
        label_regime(math.nan, None, 0.001, -0.001, 0.01)
    with pytest.raises(ValueError, match="threshold"):
        label_regime(0.0, 0.01, 0.001, -0.001, None)
