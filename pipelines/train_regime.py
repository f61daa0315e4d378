"""DVC stage ``train_regime``: the market-regime forecaster on validated bars, registered.

The held-out error (the last ``regime.test_fraction`` of time, after a gap) sits beside
persistence, zero-return and GARCH(1,1) baselines; the gate (``register.regime``) compares the
volatility forecast with GARCH.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from alphaloop.config import Params, Settings, load_params
from pipelines.common import (
    REGIME_DIR,
    REGIME_METRICS,
    REGIME_REGISTRY,
    VALIDATED_BARS,
    read_frame,
    run_stage,
    write_json,
)
from pipelines.registration import Candidate, register

log = logging.getLogger(__name__)


def train(params: Params, bars_path: Path = VALIDATED_BARS) -> dict[str, Any]:
    """Fit and save the forecaster; return held-out metrics per forecaster."""
    from alphaloop.models.regime import RegimeForecaster

    bars = read_frame(bars_path)
    forecaster = RegimeForecaster(params=params.regime, use_onnx=True)
    log.info("training the regime forecaster on %s closes", f"{len(bars):,}")
    report = forecaster.fit(bars.set_index("timestamp")["close"])
    if REGIME_DIR.exists():
        shutil.rmtree(REGIME_DIR)
    forecaster.save(REGIME_DIR)
    table = report.table()
    metrics: dict[str, Any] = {
        name: {k: round(float(v), 8) for k, v in row.items() if v == v}  # drop NaN
        for name, row in table.to_dict("index").items()}
    metrics["data"] = {"n_train": report.n_train, "n_test": report.n_test, "gap": report.gap,
                       "high_vol_threshold": report.high_vol_threshold,
                       "regime_counts": report.regime_counts}
    write_json(REGIME_METRICS, metrics)
    for name, row in table.iterrows():
        log.info("%-11s return RMSE %.6f  vol RMSE %.6f  direction %.3f (held out)", name,
                 row["return_rmse"], row["vol_rmse"], row["directional_accuracy"])
    return metrics


def run(params: Params, settings: Settings) -> dict[str, Any]:
    """Train, then register ``regime`` under the shared alias rules."""
    import mlflow
    import numpy as np
    from mlflow.models import infer_signature

    from alphaloop.models.regime import RegimeForecaster
    from alphaloop.registry.pyfunc import RegimePyfunc, regime_frame

    metrics = train(params)
    closes = read_frame(VALIDATED_BARS)["close"].tail(params.regime.context_length + 1)
    example = closes.to_frame().reset_index(drop=True)
    output = regime_frame(RegimeForecaster.load(REGIME_DIR),
                          np.asarray(closes, dtype=float))

    def log_model(name: str) -> Any:
        return mlflow.pyfunc.log_model(
            name="model", python_model=RegimePyfunc(), artifacts={"regime": str(REGIME_DIR)},
            signature=infer_signature(example, output), input_example=example,
            registered_model_name=name)

    scores = {k: v for k, v in metrics.items() if k != "data"}
    candidate = Candidate(
        name="regime", rule=params.register_.regime, metrics=scores,
        params={"regime": params.regime.model_dump(mode="json")}, data_stage="validate",
        data_path=str(VALIDATED_BARS), log_model=log_model,
        artifacts={"reports": REGIME_METRICS}, candidate_key="model")
    return register(candidate, settings, REGIME_REGISTRY)


def main() -> None:
    run_stage(lambda: run(load_params(), Settings()))


if __name__ == "__main__":
    main()
