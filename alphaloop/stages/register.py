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
from alphaloop.registry.tracking import InputData
from alphaloop.stages import ensemble
from alphaloop.stages.lineage import ENSEMBLE_SECTIONS, market_tags, model_params
from alphaloop.workspace import Workspace, dir_md5, file_md5, write_json


def register_ensemble(params: Params, features: pd.DataFrame, predictor: EnsemblePredictor,
                      ws: Workspace, registry: RegistryConfig,
                      backtest: dict[str, Any] | None = None,
                      oof_metrics: dict[str, Any] | None = None,
                      before_commit: Any = None, reuse_identical: bool = False) -> Registration:
    """Register the trained ensemble (saved in ``ws``) as its task's challenger; gate it.

    Args:
        backtest: A walk-forward summary to log with the model (the retraining flow's);
            the DVC pipeline logs its backtest as a run of its own instead.
        reuse_identical: When the task already has a version with the same model bytes
            trained on the same data, report it instead of registering a copy.
    """
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

    metrics: dict[str, Any] = {f"oof.{k}": v for k, v in (oof_metrics or {}).items()
                               if k not in ("holdout", "data", "run")}
    if backtest:
        metrics.update({f"backtest.{k}": backtest[k] for k in
                        ("strategy", "buy_and_hold", "strategy_cost_aware") if k in backtest})
    task = ensemble.task_of(params, features, columns)
    data_version = file_md5(ws.features) if ws.features.exists() else None
    candidate = Candidate(
        task=task, rule=params.register_.ensemble, model=predictor,
        holdout=ensemble.gate_holdout(parts, params.target.horizon), log_model=log_model,
        params=model_params(params, "ensemble", ENSEMBLE_SECTIONS),
        metrics=metrics, data_version=data_version,
        data_path="data/features/features.parquet", git_commit=git_commit(registry.root),
        tags=parts.bounds(), artifacts=_artifacts(ws), key=ENSEMBLE,
        data=InputData(features, f"{task.symbol} {task.timeframe} features",
                       "data/features/features.parquet", data_version,
                       market_tags(params, features, ws)),
        lineage_root=registry.root, model_hash=dir_md5(model_dir),
        reuse_identical=reuse_identical)
    with tempfile.TemporaryDirectory(prefix="alphaloop-profile-") as tmp:
        # The training window's feature distribution, for later drift checks (PSI).
        profile = Path(tmp) / "profile.json"
        profile.write_text(json.dumps(feature_profile(parts.fit, columns,
                                                      params.retrain.drift.bins)))
        candidate.artifacts["drift"] = profile
        result = register_candidate(candidate, registry, before_commit)
    write_json(ws.report("registry"), result.to_dict())
    write_json(ws.registered("ensemble"), registered_identity(result.name, candidate))
    return result


def registered_identity(name: str, candidate: Candidate) -> dict[str, Any]:
    """What was registered, by content: the registry's own answer (version, run id, gate)
    differs from machine to machine, this does not (DVC hashes it as the stage's output)."""
    from alphaloop.registry.lineage import params_hash

    return {"model": name, "model_hash": candidate.model_hash,
            "data_version": candidate.data_version, "params_hash": params_hash(candidate.params)}


def _artifacts(ws: Workspace) -> dict[str, Any]:
    return {"reports": ws.report("train_metrics"),
            "plots": tuple(ws.plots / name for name in ensemble.TRAIN_PLOTS)}
