"""A real MLflow registry of small real models, registered by the production stage functions.

Tasks (sqlite store under ``root/mlruns``):

- ``ensemble BTC-USD 15m``: a reduced feature plan, champion v1 and a challenger v2 (the
  symbol and timeframe the OpenAPI examples name, so the fuzzer reaches a real model);
- ``ensemble TEST2 1h``: the default feature plan (598 bars of look-back), champion v1;
- ``ensemble NOCHAMP 15m``: only a challenger (its floor is unreachable): no champion;
- ``regime BTC-USD 15m`` and the ``sentiment`` task: champions.

Every model goes through the stage functions ``dvc repro`` runs (train, register, gate).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from alphaloop.config import Params
from alphaloop.features import FeatureConfig, build_features
from alphaloop.registry.lifecycle import RegistryConfig
from alphaloop.workspace import Workspace
from tests.conftest import REPO, make_raw_bars

TINY_MEMBERS = {
    "lightgbm": {"n_estimators": 20, "num_leaves": 7, "n_jobs": 1, "verbose": -1},
    "xgboost": {"n_estimators": 20, "max_depth": 3, "n_jobs": 1, "verbosity": 0},
    "catboost": {"iterations": 20, "depth": 3, "thread_count": 1, "verbose": False,
                 "allow_writing_files": False},
}
SMALL_FEATURES = {"rsi_periods": [7, 14], "ma_periods": [5, 10, 20], "momentum_periods": [7],
                  "volatility_periods": [5, 10], "volume_periods": [5], "return_lags": [1, 2, 4],
                  "candlestick_patterns": False, "hilbert_cycles": False, "oscillators": False}
OPEN_GATE = {"floor": None, "require_beat_baseline": False}


def params(features: dict[str, Any] | None = None, members: dict[str, Any] | None = None,
           **register: Any) -> Params:
    gates = Params().register_.model_dump()
    return Params.model_validate({
        "features": features or {},
        "cv": {"n_splits": 3, "embargo": 40},
        "train": {"members": members or TINY_MEMBERS, "early_stopping_rounds": 5},
        "register": {"ensemble": {**gates["ensemble"], **OPEN_GATE, **register},
                     "regime": {**gates["regime"], **OPEN_GATE},
                     "sentiment": {**gates["sentiment"], **OPEN_GATE}},
        "regime": {"epochs": 1, "d_model": 16, "num_layers": 1, "context_length": 32},
    })


def bars(n: int, freq: str, symbol: str, timeframe: str, seed: int) -> pd.DataFrame:
    frame = make_raw_bars(n, freq=freq, seed=seed)
    frame["symbol"], frame["timeframe"] = symbol, timeframe
    return frame


@dataclass(frozen=True)
class EnsembleTask:
    name: str
    bars: pd.DataFrame
    features: pd.DataFrame
    config: FeatureConfig
    champion: str | None
    challenger: str | None


@dataclass(frozen=True)
class Registry:
    root: Path
    config: RegistryConfig
    tasks: dict[str, EnsembleTask]  # by symbol
    regime: str
    regime_bars: pd.DataFrame
    sentiment: str

    @property
    def tracking_uri(self) -> str:
        from alphaloop.registry.store import default_tracking_uri

        return default_tracking_uri(self.root)


def register_ensemble(root: Path, registry: RegistryConfig, p: Params, raw: pd.DataFrame,
                      workspace: str, seed: int = 42) -> tuple[Any, pd.DataFrame]:
    from alphaloop.stages import ensemble
    from alphaloop.stages.register import register_ensemble as register

    p = p.model_copy(update={"train": p.train.model_copy(update={"seed": seed})})
    features = build_features(raw, p.features).frame
    ws = Workspace(root / workspace)
    result = ensemble.train(p, features, ws)
    return register(p, features, result.predictor, ws, registry), features


def build(root: Path, with_regime: bool = True, with_sentiment: bool = True) -> Registry:
    """Train and register every task (about half a minute on two cores)."""
    from alphaloop.stages import regime, sentiment

    registry = RegistryConfig(root=root)
    small = params(SMALL_FEATURES)
    tasks = {}
    raw_a = bars(1500, "15min", "BTC-USD", "15m", seed=1)
    first, feats_a = register_ensemble(root, registry, small, raw_a, "ws-test")
    second, _ = register_ensemble(root, registry, params(SMALL_FEATURES, floor=0.99), raw_a,
                                  "ws-test", seed=7)
    assert first.promoted and not second.promoted, (first.reasons, second.reasons)
    tasks["BTC-USD"] = EnsembleTask(first.name, raw_a, feats_a, small.features, first.version,
                                 second.version)
    raw_b = bars(1500, "1h", "TEST2", "1h", seed=2)
    full, feats_b = register_ensemble(root, registry, params(), raw_b, "ws-test2")
    assert full.promoted, full.reasons
    tasks["TEST2"] = EnsembleTask(full.name, raw_b, feats_b, FeatureConfig(), full.version,
                                  None)
    raw_c = raw_a.assign(symbol="NOCHAMP")
    none, feats_c = register_ensemble(root, registry, params(SMALL_FEATURES, floor=0.99), raw_c,
                                      "ws-nochamp")
    assert not none.promoted
    tasks["NOCHAMP"] = EnsembleTask(none.name, raw_c, feats_c, small.features, None,
                                    none.version)
    regime_name = sentiment_name = ""
    if with_regime:
        ws = Workspace(root / "ws-regime")
        result = regime.train(small, raw_a, ws)
        regime_name = regime.register_regime(small, raw_a, result, ws, registry).name
    if with_sentiment:
        from alphaloop.models.sentiment import load_headlines

        ws = Workspace(root / "ws-sentiment")
        path = ws.root / "data/text/headlines.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "data/text/headlines.csv", path)
        frame = load_headlines(path)
        result = sentiment.train(small, frame, ws)
        report = sentiment.register_sentiment(small, frame, path, result, ws, registry)
        assert report.promoted, report.reasons
        sentiment_name = report.name
    return Registry(root, registry, tasks, regime_name, raw_a, sentiment_name)
