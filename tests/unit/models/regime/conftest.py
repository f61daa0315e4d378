"""Tiny PatchTST settings, synthetic closes and one trained forecaster shared by the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from alphaloop.models.regime import RegimeForecaster, RegimeParams, RegimeReport


def tiny_params(**overrides: Any) -> RegimeParams:
    """Context 32, one layer of width 16, one epoch: trains in well under a second."""
    settings: dict[str, Any] = {
        "context_length": 32, "horizon": 4, "patch_length": 8, "stride": 8, "d_model": 16,
        "num_layers": 1, "num_heads": 2, "epochs": 1, "batch_size": 32,
    }
    return RegimeParams(**{**settings, **overrides})


def random_walk(n: int = 400, seed: int = 0, vol: float = 0.003) -> pd.Series:
    """Closes of a Gaussian random walk on a 15-minute UTC grid."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    index = pd.date_range("2024-01-01", periods=n, freq="15min", tz="UTC")
    return pd.Series(close, index=index, name="close")


@pytest.fixture(scope="session")
def prices() -> pd.Series:
    return random_walk()


@pytest.fixture(scope="session")
def fitted(prices: pd.Series) -> tuple[RegimeForecaster, RegimeReport]:
    """A torch-inference forecaster trained on ``prices``."""
    forecaster = RegimeForecaster(use_onnx=False, params=tiny_params())
    return forecaster, forecaster.fit(prices)


@pytest.fixture(scope="session")
def saved_dir(fitted: tuple[RegimeForecaster, RegimeReport],
              tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``fitted`` saved once (checkpoint, regime.json and the checked ONNX graph)."""
    forecaster, _ = fitted
    return forecaster.save(tmp_path_factory.mktemp("regime") / "model")
