"""DVC stage ``register``: log the run to MLflow, register ``ensemble``, apply the gate.

The new version always gets ``challenger``. It becomes ``champion`` only if it clears the
accuracy floor, beats the majority-class baseline (when required) and beats the current
champion; otherwise the champion stays. The floor is never lowered to make a run pass:
``alphaloop promote`` exists for a person's decision, recorded as manual.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from alphaloop.config import Params, Settings, load_params
from alphaloop.registry import store
from alphaloop.registry.gate import GateDecision, decide
from alphaloop.registry.lineage import data_version_from_lock, lineage_tags
from pipelines.common import (
    AUDIT_LOG,
    BACKTEST_METRICS,
    FEATURES,
    MODEL_DIR,
    PLOTS,
    REGISTRY_REPORT,
    TRAIN_METRICS,
    read_frame,
    read_json,
    setup,
    write_json,
)

log = logging.getLogger(__name__)


def git_commit(root: Path) -> str | None:
    """HEAD's hash, marked ``-dirty`` when tracked files differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=root, capture_output=True, text=True, check=True,
                                timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if head and status else head or None


def flatten(prefix: str, value: Any) -> dict[str, Any]:
    """Nested params as dotted keys, the shape MLflow params want."""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(flatten(f"{prefix}.{key}" if prefix else str(key), inner))
        return flat
    return {prefix: value}


def run(params: Params, settings: Settings, root: Path = Path(".")) -> dict[str, Any]:
    """Log, register and gate the trained ensemble; return what happened."""
    import mlflow
    from mlflow.models import infer_signature

    from alphaloop.models.ensemble import EnsemblePredictor
    from alphaloop.registry.pyfunc import ARTIFACT_KEY, EnsemblePyfunc, probability_frame

    uri = store.configure_tracking(settings.mlflow_tracking_uri, root)
    gate = params.register_
    train_metrics = read_json(TRAIN_METRICS)
    backtest_metrics = read_json(BACKTEST_METRICS) if BACKTEST_METRICS.exists() else {}
    model_params = params.model_dump(by_alias=True, mode="json",
                                     include={"target", "cv", "train", "backtest", "features"})
    lock_path = root / "dvc.lock"
    lock = yaml.safe_load(lock_path.read_text()) if lock_path.exists() else {}
    data_version = data_version_from_lock(lock or {}, "features", str(FEATURES))
    commit = git_commit(root)
    candidate = train_metrics["ensemble"]
    tags = lineage_tags(data_version=data_version, git_commit=commit, params=model_params,
                        metrics=candidate, data_path=str(FEATURES))

    predictor = EnsemblePredictor.load(MODEL_DIR)
    example = read_frame(FEATURES)[predictor.feature_columns].head(5)
    signature = infer_signature(example, probability_frame(predictor.predict_proba(example)))

    with mlflow.start_run(run_name=f"ensemble-{(data_version or 'nodata')[:8]}") as active:
        mlflow.set_tags(tags)
        mlflow.log_params({k: str(v)[:500] for k, v in flatten("", model_params).items()})
        mlflow.log_metrics({f"{model}.{name}": float(value)
                            for model, scores in train_metrics.items()
                            for name, value in scores.items()})
        mlflow.log_metrics({f"backtest.{k}": float(v) for k, v in
                            flatten("", backtest_metrics).items()
                            if isinstance(v, int | float) and pd.notna(v)})
        for path in (TRAIN_METRICS, BACKTEST_METRICS):
            if path.exists():
                mlflow.log_artifact(str(path), "reports")
        if PLOTS.exists():
            mlflow.log_artifacts(str(PLOTS), "plots")
        info = mlflow.pyfunc.log_model(
            name="model", python_model=EnsemblePyfunc(),
            artifacts={ARTIFACT_KEY: str(MODEL_DIR)}, signature=signature,
            input_example=example, registered_model_name=gate.model_name)
        run_id = active.info.run_id

    client = mlflow.MlflowClient()
    version = str(info.registered_model_version)
    for key, value in tags.items():
        client.set_model_version_tag(gate.model_name, version, key, value)
    audit = root / AUDIT_LOG
    store.move_alias(client, gate.model_name, store.CHALLENGER, version, actor="pipeline",
                     reason="newly trained", audit_path=audit)
    champion = store.alias_version(client, gate.model_name, store.CHAMPION)
    decision = decide(candidate, train_metrics["majority"],
                      store.version_metrics(champion) if champion is not None else None, gate)
    _apply(client, gate.model_name, version, champion, decision, audit)
    champion = store.alias_version(client, gate.model_name, store.CHAMPION)
    report = {
        "model": gate.model_name,
        "version": version,
        "run_id": run_id,
        "tracking_uri": uri,
        "champion_version": str(champion.version) if champion is not None else None,
        "promoted": decision.promote,
        "reasons": decision.reasons,
        "lineage": tags,
    }
    write_json(REGISTRY_REPORT, report)
    return report


def _apply(client: Any, name: str, version: str, champion: Any | None,
           decision: GateDecision, audit: Path) -> None:
    reason = "; ".join(decision.reasons)
    if decision.promote:
        store.promote(client, name, version, actor="gate", reason=reason, audit_path=audit)
        log.info("%s v%s is the new champion: %s", name, version, reason)
    elif champion is None:
        log.warning("%s v%s did not pass the gate and there is no champion: %s. A person can "
                    "promote it with `alphaloop promote --version %s --reason ...`", name,
                    version, reason, version)
    else:
        log.warning("%s v%s did not pass the gate; champion v%s stays: %s", name, version,
                    champion.version, reason)


def promote_by_hand(settings: Settings, model: str, version: str | None, reason: str,
                    root: Path = Path(".")) -> list[dict[str, Any]]:
    """A person's promotion, recorded as ``manual`` (the default version is the challenger)."""
    import mlflow

    store.configure_tracking(settings.mlflow_tracking_uri, root)
    client = mlflow.MlflowClient()
    if version is None:
        challenger = store.alias_version(client, model, store.CHALLENGER)
        if challenger is None:
            raise ValueError(f"model {model!r} has no challenger; pass --version")
        version = str(challenger.version)
    from mlflow.exceptions import MlflowException

    try:
        client.get_model_version(model, version)
    except MlflowException as exc:
        raise ValueError(f"model {model!r} has no version {version!r}") from exc
    return store.promote(client, model, version, actor="manual", reason=reason,
                         audit_path=root / AUDIT_LOG)


def main() -> None:
    setup()
    run(load_params(), Settings())


if __name__ == "__main__":
    main()
