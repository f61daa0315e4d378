"""RegimeForecaster: training, the held-out report, no look-ahead, regimes, determinism."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from alphaloop.models.regime import RegimeForecaster, RegimeParams, RegimeReport
from alphaloop.models.regime.data import make_windows, time_split
from alphaloop.models.regime.model import predict
from tests.unit.models.regime.conftest import tiny_params

Fitted = tuple[RegimeForecaster, RegimeReport]


def test_report_holds_model_and_baselines(fitted: Fitted, prices: pd.Series) -> None:
    forecaster, report = fitted
    assert set(report.return_errors) == {"model", "persistence", "zero", "train_mean"}
    assert set(report.volatility_errors) == {"model", "persistence", "garch", "train_mean"}
    for table in (report.return_errors, report.volatility_errors):
        for errors in table.values():
            assert set(errors) == {"mae", "rmse"}
            assert 0 < errors["mae"] <= errors["rmse"] < 0.1
    assert 0.0 <= report.directional_accuracy["model"] <= 1.0
    assert len(report.epoch_losses) == 1 and math.isfinite(report.epoch_losses[0])
    n_windows = len(prices) - 32 - 4
    assert report.n_train + report.gap + report.n_test == n_windows
    assert report.gap == 36 and report.n_test == round(0.2 * n_windows)
    assert sum(report.regime_counts.values()) == report.n_test
    assert report.high_vol_threshold == forecaster.high_vol_threshold > 0
    assert set(report.garch_params) == {"omega", "alpha[1]", "beta[1]"}
    metrics = report.metrics()
    assert metrics["vol_rmse_garch"] == report.volatility_errors["garch"]["rmse"]
    assert report.table().loc["zero", "return_mae"] == report.return_errors["zero"]["mae"]


def test_predictions_are_the_last_windows_in_time(fitted: Fitted, prices: pd.Series) -> None:
    _, report = fitted
    frame = report.predictions
    assert len(frame) == report.n_test
    assert frame["origin"].iloc[-1] == len(prices) - 1 - 4
    assert frame["origin"].is_monotonic_increasing
    assert (frame["timestamp"] == prices.index[frame["origin"]]).all()
    realised = np.log(prices.to_numpy()[frame["origin"] + 4] / prices.to_numpy()[frame["origin"]])
    np.testing.assert_allclose(frame["realised_return"], realised)


def test_forecast_uses_only_prices_up_to_its_origin(fitted: Fitted, prices: pd.Series) -> None:
    forecaster, report = fitted
    row = report.predictions.iloc[5]
    t = int(row["origin"])
    head = prices.iloc[: t + 1]
    value, vol = forecaster.forecast_both(head)
    # The report's test forecast at t is the forecast from the closes up to t ...
    assert value == pytest.approx(row["forecast_return"], abs=1e-9)
    assert vol == pytest.approx(row["forecast_vol"], abs=1e-9)
    # ... and rewriting every later close changes nothing.
    future = prices.copy()
    future.iloc[t + 1:] *= np.exp(np.cumsum(np.full(len(prices) - t - 1, 0.05)))
    assert forecaster.forecast_both(future.iloc[: t + 1]) == (value, vol)
    assert forecaster.forecast(prices.iloc[: t + 1].to_numpy()) == value
    assert forecaster.forecast_volatility(head) == vol


def test_forecast_window_matches_the_training_window(fitted: Fitted,
                                                     prices: pd.Series) -> None:
    forecaster, _ = fitted
    windows = make_windows(prices.to_numpy(), 32, 4)
    k = 10
    from_windows = predict(forecaster.net, windows.inputs[k: k + 1])[0]
    t = int(windows.origins[k])
    assert forecaster.forecast_both(prices.iloc[: t + 1]) == pytest.approx(tuple(from_windows))


def test_too_few_prices_is_a_clear_error(fitted: Fitted, prices: pd.Series) -> None:
    forecaster, _ = fitted
    with pytest.raises(ValueError, match="context_length \\+ 1 = 33"):
        forecaster.forecast(prices.iloc[:32])
    bad = prices.iloc[:40].copy()
    bad.iloc[-1] = -1.0
    with pytest.raises(ValueError, match="finite and positive"):
        forecaster.forecast(bad)


def test_unfitted_forecaster_refuses_to_forecast(prices: pd.Series) -> None:
    forecaster = RegimeForecaster(params=tiny_params())
    assert not forecaster.is_fitted
    with pytest.raises(RuntimeError, match="not trained"):
        forecaster.forecast(prices)
    # Return thresholds work before fitting; a volatility needs the fitted threshold.
    assert forecaster.classify_regime(0.01) == "bull"
    with pytest.raises(ValueError, match="threshold"):
        forecaster.classify_regime(0.0, 0.01)


def test_classify_regime_on_hand_picked_values(fitted: Fitted) -> None:
    forecaster, _ = fitted
    params = forecaster.params
    high = forecaster.high_vol_threshold
    assert high is not None
    calm = 0.5 * high
    assert forecaster.classify_regime(params.bull_threshold * 2, calm) == "bull"
    assert forecaster.classify_regime(params.bear_threshold * 2, calm) == "bear"
    assert forecaster.classify_regime(0.0, calm) == "sideways"
    assert forecaster.classify_regime(params.bull_threshold * 2, high * 1.01) == "high_vol"
    assert forecaster.classify_regime(params.bull_threshold * 2) == "bull"


def test_training_is_seeded(fitted: Fitted, prices: pd.Series) -> None:
    forecaster, report = fitted
    again = RegimeForecaster(use_onnx=False, params=tiny_params())
    again_report = again.fit(prices)
    assert again_report.epoch_losses == report.epoch_losses
    assert again.forecast_both(prices) == forecaster.forecast_both(prices)
    other = RegimeForecaster(use_onnx=False, params=tiny_params(seed=7))
    other.fit(prices)
    assert other.forecast_both(prices) != forecaster.forecast_both(prices)


def test_arguments_must_agree_with_params() -> None:
    assert RegimeForecaster().params == RegimeParams()
    params = tiny_params()
    assert RegimeForecaster(horizon=4, params=params).params.horizon == 4
    assert RegimeForecaster(horizon=8).params.horizon == 8
    with pytest.raises(ValueError, match="horizon=8"):
        RegimeForecaster(horizon=8, params=params)
    with pytest.raises(ValueError):
        RegimeForecaster(horizon=0)


def test_learns_a_planted_volatility_regime() -> None:
    # Blocks of 150 bars alternate between calm (0.1%) and wild (0.8%) one-bar returns,
    # so both regimes appear in the training and the held-out part.
    rng = np.random.default_rng(3)
    block, n = 150, 1500
    wild = (np.arange(n) // block) % 2 == 1
    returns = rng.normal(0.0, np.where(wild, 0.008, 0.001))
    prices = pd.Series(100.0 * np.exp(np.cumsum(returns)))
    # Half the training windows are wild, so the median forecast separates the regimes.
    params = tiny_params(epochs=5, learning_rate=3e-3, high_vol_quantile=0.5)
    forecaster = RegimeForecaster(use_onnx=False, params=params)
    report = forecaster.fit(prices)
    frame = report.predictions
    origins = frame["origin"].to_numpy()
    # Windows whose whole context and horizon lie inside one block.
    inside = (origins % block >= 32) & (origins % block < block - 4)
    in_wild = wild[origins] & inside
    in_calm = ~wild[origins] & inside
    assert in_wild.sum() > 50 and in_calm.sum() > 50
    vol = frame["forecast_vol"].to_numpy()
    assert vol[in_wild].mean() > 2.5 * vol[in_calm].mean()
    assert report.volatility_errors["model"]["mae"] < report.volatility_errors["train_mean"]["mae"]
    high = (frame["regime"] == "high_vol").to_numpy()
    assert high[in_wild].mean() > 0.8 and high[in_calm].mean() < 0.1


def test_split_of_the_fit_matches_time_split(fitted: Fitted, prices: pd.Series) -> None:
    _, report = fitted
    n_windows = len(make_windows(prices.to_numpy(), 32, 4))
    split = time_split(n_windows, 0.2, 36)
    assert (report.n_train, report.n_test) == (split.train.size, split.test.size)



def test_forecast_windows_in_batch(fitted: Fitted, prices: pd.Series) -> None:
    forecaster, report = fitted
    windows = make_windows(prices.to_numpy(), 32, 4)
    out = forecaster.forecast_windows(windows.inputs[-report.n_test:])
    assert out.shape == (report.n_test, 2) and out.dtype == np.float64
    np.testing.assert_allclose(out[:, 0], report.predictions["forecast_return"])
    with pytest.raises(ValueError, match=r"\(m, 32\)"):
        forecaster.forecast_windows(windows.inputs[:, :10])
