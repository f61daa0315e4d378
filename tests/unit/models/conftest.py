"""Synthetic labelled frames with a planted signal, and small fast ensemble configs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from alphaloop.labels import prepare_target
from alphaloop.models import EnsemblePredictor, PredictorConfig, TrainReport

N_FEATURES = 20
# One thread each: on a busy 2-core machine OpenMP barriers of 2-thread fits on tiny data
# can stall for seconds (spinning threads descheduled); one thread is fast and steady.
FAST_MEMBERS: dict[str, dict[str, Any]] = {
    "lightgbm": {"n_estimators": 50, "learning_rate": 0.1, "n_jobs": 1},
    "xgboost": {"n_estimators": 50, "learning_rate": 0.1, "n_jobs": 1},
    "catboost": {"iterations": 50, "learning_rate": 0.1, "thread_count": 1},
}


def make_labelled(n: int = 1500, signal: float = 1.0, seed: int = 0,
                  horizon: int = 1) -> pd.DataFrame:
    """Bars plus ``N_FEATURES`` float features; the next return loads on ``f0`` by ``signal``.

    ``signal=0`` gives pure noise: no feature says anything about the label.
    """
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, N_FEATURES))
    step = 0.002 * (signal * features[:, 0] + rng.normal(size=n))
    # The return from bar t to t + 1 depends on features of bar t only.
    close = 100.0 * np.exp(np.cumsum(np.r_[0.0, step[:-1]]))
    frame = pd.DataFrame({
        "timestamp": pd.date_range("2024-01-01", periods=n, freq="15min", tz="UTC"),
        "open": close, "high": close * 1.001, "low": close * 0.999, "close": close,
        "volume": rng.lognormal(2.0, 1.0, n), "symbol": "TEST", "timeframe": "15m",
        "gap_before": np.zeros(n, dtype=np.int64), "segment": np.zeros(n, dtype=np.int64),
        "zero_volume": np.zeros(n, dtype=bool),
    })
    names = [f"f{i}" for i in range(N_FEATURES)]
    frame = pd.concat([frame, pd.DataFrame(features, columns=names)], axis=1)
    return prepare_target(frame, horizon, 0.0)


def fast_config(**overrides: Any) -> PredictorConfig:
    """Three members with 50 trees each and short early stopping."""
    settings: dict[str, Any] = {"members": FAST_MEMBERS, "early_stopping_rounds": 10}
    return PredictorConfig(**{**settings, **overrides})


@pytest.fixture(scope="session")
def signal_frame() -> pd.DataFrame:
    return make_labelled(signal=1.0, seed=0)


@pytest.fixture(scope="session")
def trained(signal_frame: pd.DataFrame) -> tuple[EnsemblePredictor, TrainReport]:
    """The default combination (weighted, sigmoid) trained on planted-signal data."""
    predictor = EnsemblePredictor(fast_config())
    return predictor, predictor.train(signal_frame, horizon=1)


@pytest.fixture(scope="session")
def trained_stacked(signal_frame: pd.DataFrame) -> tuple[EnsemblePredictor, TrainReport]:
    """Stacked members with isotonic calibration, three folds."""
    predictor = EnsemblePredictor(fast_config(combine="stacked", calibration="isotonic",
                                              n_splits=3))
    return predictor, predictor.train(signal_frame, horizon=1)
