"""The ``register`` stage for the ensemble: log to MLflow, register under its task, gate."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from alphaloop.config import Params
from alphaloop.models.ensemble import EnsemblePredictor
from alphaloop.models.fitting import ENSEMBLE
from alphaloop.registry.drift import feature_profile
from alphaloop.registry.lifecycle import Candidate, Registration, RegistryConfig, register_candidate
from alphaloop.registry.lineage import git_commit
from alphaloop.stages import ensemble
from alphaloop.workspace import Workspace, file_md5, write_json


def register_ensemble(params: Params, features: pd.DataFrame, predictor: EnsemblePredictor,
                      ws: Workspace, registry: RegistryConfig,
                      backtest: dict[str, Any] | None = None,
                      oof_metrics: dict[str, Any] | None = None,
                      before_commit: Any = None) -> Registration:
    """Register the trained ensemble (saved in ``ws``) as its task's challenger; gate it."""
    import mlflow
    from mlflow.models import infer_signature

    from alphaloop.registry.pyfunc import ARTIFACT_KEY, EnsemblePyfunc, probability_frame

    parts = ensemble.split(params, features)
    columns = predictor.feature_columns
    example = features[columns].head(5)
    signature = infer_signature(example, probability_frame(predictor.predict_proba(example)))
    model_dir = ws.model_dir("ensemble")

    def log_model(name: str) -> Any:
        return mlflow.pyfunc.log_model(
            name="model", python_model=EnsemblePyfunc(),
            artifacts={ARTIFACT_KEY: str(model_dir)}, signature=signature,
            input_example=example, registered_model_name=name)

    metrics = {f"oof.{k}": v for k, v in (oof_metrics or {}).items()
               if k not in ("holdout", "data", "run")}
    candidate = Candidate(
        task=ensemble.task_of(params, features, columns), rule=params.register_.ensemble,
        model=predictor, holdout=ensemble.gate_holdout(parts, params.target.horizon),
        log_model=log_model,
        params=params.model_dump(by_alias=True, mode="json",
                                 include={"target", "cv", "train", "backtest", "features"}),
        metrics={**metrics, "backtest": (backtest or {}).get("strategy", {})},
        data_version=file_md5(ws.features) if ws.features.exists() else None,
        data_path="data/features/features.parquet", git_commit=git_commit(registry.root),
        tags=parts.bounds(), artifacts=_artifacts(ws), key=ENSEMBLE)
    with tempfile.TemporaryDirectory(prefix="alphaloop-profile-") as tmp:
        # The training window's feature distribution, for later drift checks (PSI).
        profile = Path(tmp) / "profile.json"
        profile.write_text(json.dumps(feature_profile(parts.fit, columns,
                                                      params.retrain.drift.bins)))
        candidate.artifacts["drift"] = profile
        result = register_candidate(candidate, registry, before_commit)
    write_json(ws.report("registry"), result.to_dict())
    return result


def _artifacts(ws: Workspace) -> dict[str, Any]:
    return {"reports": ws.report("train_metrics"),
            "reports/backtest": ws.report("backtest_metrics"), "plots": ws.plots}
