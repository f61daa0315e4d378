"""Regime labels and the held-out report of a fitted regime forecaster."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from alphaloop.models.regime.baselines import directional_accuracy, regression_errors
from alphaloop.models.regime.data import RETURN, VOLATILITY, Windows

Regime = Literal["bull", "bear", "sideways", "high_vol"]
REGIMES: tuple[Regime, ...] = ("bull", "bear", "sideways", "high_vol")


def label_regime(value: float, volatility: float | None, bull_threshold: float,
                 bear_threshold: float, high_vol_threshold: float | None) -> Regime:
    """``high_vol`` when ``volatility`` exceeds its threshold, else bull/bear/sideways.

    Args:
        value: Forecast ``h``-bar log return.
        volatility: Forecast realised volatility, or None to judge the return alone.
        bull_threshold: ``value`` above it is ``bull``.
        bear_threshold: ``value`` below it is ``bear``.
        high_vol_threshold: Volatility level above which ``high_vol`` wins.

    Raises:
        ValueError: On a non-finite value or volatility, or a volatility without threshold.
    """
    if not math.isfinite(value):
        raise ValueError(f"the forecast return must be finite, got {value}")
    if volatility is not None:
        if not math.isfinite(volatility):
            raise ValueError(f"the forecast volatility must be finite, got {volatility}")
        if high_vol_threshold is None:
            raise ValueError("no high-volatility threshold: fit or load the forecaster first")
        if volatility > high_vol_threshold:
            return "high_vol"
    if value > bull_threshold:
        return "bull"
    if value < bear_threshold:
        return "bear"
    return "sideways"


@dataclass(frozen=True)
class RegimeReport:
    """What ``RegimeForecaster.fit`` measured on the held-out (last, time-ordered) windows.

    Attributes:
        return_errors: Forecaster (``model``, ``persistence``, ``zero``, ``train_mean``) ->
            ``{"mae", "rmse"}`` of the ``h``-bar log return forecast.
        volatility_errors: Forecaster (``model``, ``persistence``, ``garch``,
            ``train_mean``) -> ``{"mae", "rmse"}`` of the realised volatility forecast.
        directional_accuracy: ``model`` and ``persistence`` -> share of test windows whose
            forecast sign matches the realised return's (zero realised returns left out).
        regime_counts: Regime -> test windows the model's forecasts put in it.
        high_vol_threshold: The fitted ``high_vol`` volatility level.
        garch_params: GARCH(1,1) parameters fitted on the training returns (×100 scale).
        n_train: Training windows.
        n_test: Test windows.
        gap: Windows dropped between them.
        epoch_losses: Mean training loss (MSE, standardised targets) of each epoch.
        train_seconds: Wall time of the training loop.
        predictions: One row per test window: ``origin`` (bar position), ``timestamp`` when
            the prices had a DatetimeIndex, realised values, forecasts, baselines, regime.
    """

    return_errors: dict[str, dict[str, float]]
    volatility_errors: dict[str, dict[str, float]]
    directional_accuracy: dict[str, float]
    regime_counts: dict[str, int]
    high_vol_threshold: float
    garch_params: dict[str, float]
    n_train: int
    n_test: int
    gap: int
    epoch_losses: list[float] = field(default_factory=list)
    train_seconds: float = 0.0
    predictions: pd.DataFrame = field(default_factory=pd.DataFrame)

    def metrics(self) -> dict[str, float]:
        """Flat ``name -> value`` (for MLflow), e.g. ``return_mae_model``, ``vol_rmse_garch``."""
        flat: dict[str, float] = {}
        for prefix, table in (("return", self.return_errors), ("vol", self.volatility_errors)):
            for model, errors in table.items():
                for stat, value in errors.items():
                    flat[f"{prefix}_{stat}_{model}"] = value
        for model, value in self.directional_accuracy.items():
            flat[f"directional_accuracy_{model}"] = value
        flat.update({"high_vol_threshold": self.high_vol_threshold,
                     "n_train": float(self.n_train), "n_test": float(self.n_test),
                     "train_seconds": self.train_seconds})
        return flat

    def table(self) -> pd.DataFrame:
        """One row per forecaster; NaN where a metric does not apply to it."""
        rows: dict[str, dict[str, float]] = {}
        for prefix, errors in (("return", self.return_errors),
                               ("vol", self.volatility_errors)):
            for model, stats in errors.items():
                for stat, value in stats.items():
                    rows.setdefault(model, {})[f"{prefix}_{stat}"] = value
        for model, value in self.directional_accuracy.items():
            rows.setdefault(model, {})["directional_accuracy"] = value
        columns = ["return_mae", "return_rmse", "vol_mae", "vol_rmse", "directional_accuracy"]
        return pd.DataFrame.from_dict(rows, orient="index").reindex(columns=columns)


def held_out_tables(windows: Windows, test: np.ndarray, forecast: np.ndarray,
                    garch_vol: np.ndarray, train_mean: tuple[float, float]
                    ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]],
                               dict[str, float]]:
    """Return errors, volatility errors and directional accuracy on the test windows."""
    actual = windows.targets[test]
    past = windows.persistence[test]
    ret, vol = actual[:, RETURN], actual[:, VOLATILITY]
    return_errors = {
        "model": regression_errors(ret, forecast[:, RETURN]),
        "persistence": regression_errors(ret, past[:, RETURN]),
        "zero": regression_errors(ret, np.zeros_like(ret)),
        "train_mean": regression_errors(ret, np.full_like(ret, train_mean[RETURN])),
    }
    volatility_errors = {
        "model": regression_errors(vol, forecast[:, VOLATILITY]),
        "persistence": regression_errors(vol, past[:, VOLATILITY]),
        "garch": regression_errors(vol, garch_vol),
        "train_mean": regression_errors(vol, np.full_like(vol, train_mean[VOLATILITY])),
    }
    accuracy = {"model": directional_accuracy(ret, forecast[:, RETURN]),
                "persistence": directional_accuracy(ret, past[:, RETURN])}
    return return_errors, volatility_errors, accuracy


def prediction_frame(windows: Windows, test: np.ndarray, forecast: np.ndarray,
                     garch_vol: np.ndarray, regimes: list[Regime],
                     index: pd.Index | None = None) -> pd.DataFrame:
    """Per test window: realised values, forecasts, baselines and the model's regime."""
    origins = windows.origins[test]
    frame = pd.DataFrame({"origin": origins})
    if isinstance(index, pd.DatetimeIndex):
        frame["timestamp"] = index[origins]
    frame["realised_return"] = windows.targets[test, RETURN]
    frame["realised_vol"] = windows.targets[test, VOLATILITY]
    frame["forecast_return"] = forecast[:, RETURN]
    frame["forecast_vol"] = forecast[:, VOLATILITY]
    frame["persistence_return"] = windows.persistence[test, RETURN]
    frame["persistence_vol"] = windows.persistence[test, VOLATILITY]
    frame["garch_vol"] = garch_vol
    frame["regime"] = pd.Categorical(regimes, categories=list(REGIMES))
    return frame
