"""Shared by every registering stage: one MLflow run, lineage tags, challenger, the gate.

The new version always gets ``challenger``. It becomes ``champion`` only if the model's gate
rule (``register.<model>`` in params.yaml) passes: floor, baseline, current champion. The
floor is never lowered to make a run pass; ``alphaloop promote`` records a person's decision.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from alphaloop.config import Settings
from alphaloop.registry import store
from alphaloop.registry.gate import GateDecision, GateRule, check_rule, decide
from alphaloop.registry.lineage import data_version_from_lock, lineage_tags
from pipelines.common import AUDIT_LOG, write_json

log = logging.getLogger(__name__)


@dataclass
class Candidate:
    """What a stage hands over for registration."""

    name: str
    rule: GateRule
    metrics: dict[str, dict[str, float]]  # model and baselines -> metric -> value
    params: dict[str, Any]
    data_stage: str
    data_path: str
    log_model: Callable[[str], Any]  # registered model name -> mlflow ModelInfo
    artifacts: dict[str, Path] = field(default_factory=dict)  # artifact folder -> file/dir
    candidate_key: str = "model"


def git_commit(root: Path) -> str | None:
    """HEAD's hash, marked ``-dirty`` when tracked files differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
        # dvc.lock is rewritten by `dvc repro` itself before this stage runs.
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                 ".", ":(exclude)dvc.lock"], cwd=root, capture_output=True,
                                text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if head and status else head or None


def redact(uri: str) -> str:
    """A tracking URI without credentials, safe to write into reports and logs."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def flatten(prefix: str, value: Any) -> dict[str, Any]:
    """Nested dicts as dotted keys, the shape MLflow params and metrics want."""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(flatten(f"{prefix}.{key}" if prefix else str(key), inner))
        return flat
    return {prefix: value}


def register(candidate: Candidate, settings: Settings, report_path: Path,
             root: Path = Path(".")) -> dict[str, Any]:
    """Log the run, register a version, tag its lineage, apply the gate, write a report."""
    import mlflow

    check_rule(candidate.rule, candidate.metrics, candidate.candidate_key,
               f"register.{candidate.name}")
    uri = store.configure_tracking(settings.mlflow_tracking_uri, root)
    lock_path = root / "dvc.lock"
    lock = yaml.safe_load(lock_path.read_text()) if lock_path.exists() else {}
    data_version = data_version_from_lock(lock or {}, candidate.data_stage, candidate.data_path)
    if data_version is None and (root / candidate.data_path).is_file():
        # Not a DVC output (e.g. a git-tracked CSV): the file's md5, as DVC would hash it.
        data_version = hashlib.md5((root / candidate.data_path).read_bytes()).hexdigest()
    scores = candidate.metrics[candidate.candidate_key]
    tags = lineage_tags(data_version=data_version, git_commit=git_commit(root),
                        params=candidate.params, metrics=scores, data_path=candidate.data_path)
    with mlflow.start_run(run_name=f"{candidate.name}-{(data_version or 'nodata')[:8]}") as run:
        mlflow.set_tags(tags)
        mlflow.log_params({k: str(v)[:500] for k, v in flatten("", candidate.params).items()})
        mlflow.log_metrics({k: float(v) for k, v in flatten("", candidate.metrics).items()
                            if isinstance(v, int | float) and pd.notna(v)})
        for folder, path in candidate.artifacts.items():
            if path.is_dir():
                mlflow.log_artifacts(str(path), folder)
            elif path.exists():
                mlflow.log_artifact(str(path), folder)
        info = candidate.log_model(candidate.name)
        run_id = run.info.run_id
    client = mlflow.MlflowClient()
    version = str(info.registered_model_version)
    for key, value in tags.items():
        client.set_model_version_tag(candidate.name, version, key, value)
    audit = root / AUDIT_LOG
    store.move_alias(client, candidate.name, store.CHALLENGER, version, actor="pipeline",
                     reason="newly trained", audit_path=audit)
    champion = store.alias_version(client, candidate.name, store.CHAMPION)
    rule = candidate.rule
    baseline = candidate.metrics[rule.baseline] if rule.baseline is not None else None
    decision = decide(scores, baseline,
                      store.version_metrics(champion) if champion is not None else None, rule)
    _apply(client, candidate.name, version, champion, decision, audit)
    champion = store.alias_version(client, candidate.name, store.CHAMPION)
    report = {
        "model": candidate.name,
        "version": version,
        "run_id": run_id,
        "tracking_uri": redact(uri),
        "champion_version": str(champion.version) if champion is not None else None,
        "promoted": decision.promote,
        "reasons": decision.reasons,
        "lineage": tags,
    }
    write_json(report_path, report)
    return report


def _apply(client: Any, name: str, version: str, champion: Any | None,
           decision: GateDecision, audit: Path) -> None:
    reason = "; ".join(decision.reasons)
    if decision.promote:
        store.promote(client, name, version, actor="gate", reason=reason, audit_path=audit)
        log.info("%s v%s is the new champion: %s", name, version, reason)
    elif champion is None:
        log.warning("%s v%s did not pass the gate and there is no champion: %s. A person can "
                    "promote it with `alphaloop promote --model %s --version %s --reason ...`",
                    name, version, reason, name, version)
    else:
        log.warning("%s v%s did not pass the gate; champion v%s stays: %s", name, version,
                    champion.version, reason)


def promote_by_hand(settings: Settings, model: str, version: str | None, reason: str,
                    root: Path = Path(".")) -> list[dict[str, Any]]:
    """A person's promotion, recorded as ``manual`` (the default version is the challenger)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    store.configure_tracking(settings.mlflow_tracking_uri, root)
    client = mlflow.MlflowClient()
    if version is None:
        challenger = store.alias_version(client, model, store.CHALLENGER)
        if challenger is None:
            raise ValueError(f"model {model!r} has no challenger; pass --version")
        version = str(challenger.version)
    try:
        client.get_model_version(model, version)
    except MlflowException as exc:
        raise ValueError(f"model {model!r} has no version {version!r}") from exc
    entries = store.promote(client, model, version, actor="manual", reason=reason,
                            audit_path=root / AUDIT_LOG)
    if not entries:
        raise ValueError(f"{model} v{version} is already the champion")
    return entries
