"""DVC stage ``register``: log the ensemble's run to MLflow, register it, apply the gate.

See :mod:`pipelines.registration` for the alias rules shared by every registered model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alphaloop.config import Params, Settings, load_params
from pipelines.common import (
    BACKTEST_METRICS,
    FEATURES,
    MODEL_DIR,
    PLOTS,
    REGISTRY_REPORT,
    TRAIN_METRICS,
    read_frame,
    read_json,
    run_stage,
)
from pipelines.registration import Candidate, register


def run(params: Params, settings: Settings, root: Path = Path(".")) -> dict[str, Any]:
    """Register the trained ensemble; return what the gate decided."""
    import mlflow
    from mlflow.models import infer_signature

    from alphaloop.models.ensemble import EnsemblePredictor
    from alphaloop.registry.pyfunc import ARTIFACT_KEY, EnsemblePyfunc, probability_frame

    train_metrics = read_json(TRAIN_METRICS)
    train_metrics.pop("data", None)
    backtest = read_json(BACKTEST_METRICS) if BACKTEST_METRICS.exists() else {}
    predictor = EnsemblePredictor.load(MODEL_DIR)
    example = read_frame(FEATURES)[predictor.feature_columns].head(5)
    signature = infer_signature(example, probability_frame(predictor.predict_proba(example)))

    def log_model(name: str) -> Any:
        return mlflow.pyfunc.log_model(
            name="model", python_model=EnsemblePyfunc(),
            artifacts={ARTIFACT_KEY: str(MODEL_DIR)}, signature=signature,
            input_example=example, registered_model_name=name)

    candidate = Candidate(
        name="ensemble", rule=params.register_.ensemble,
        metrics={**train_metrics, "backtest": backtest.get("strategy", {})},
        params=params.model_dump(by_alias=True, mode="json",
                                 include={"target", "cv", "train", "backtest", "features"}),
        data_stage="features", data_path=str(FEATURES), log_model=log_model,
        artifacts={"reports": TRAIN_METRICS, "reports/backtest": BACKTEST_METRICS,
                   "plots": PLOTS},
        candidate_key="ensemble")
    return register(candidate, settings, REGISTRY_REPORT, root)


def main() -> None:
    run_stage(lambda: run(load_params(), Settings()))


if __name__ == "__main__":
    main()
