"""Drift and staleness of a task's champion: PSI of recent features against the champion's
training profile (logged with every version), and the champion's age."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from alphaloop.config import Params
from alphaloop.registry import store
from alphaloop.registry.drift import (
    RetrainTriggerParams,
    champion_age_days,
    drift_report,
    early_retrain_reasons,
)
from alphaloop.registry.lifecycle import RegistryConfig

log = logging.getLogger(__name__)

PROFILE_ARTIFACT = "drift/profile.json"


def trigger_params(params: Params) -> RetrainTriggerParams:
    d = params.retrain.drift
    return RetrainTriggerParams(psi_threshold=d.psi_threshold,
                                max_share_drifted=d.max_share_drifted,
                                max_champion_age_days=d.max_champion_age_days)


def champion_profile(client: Any, name: str) -> tuple[Any | None, dict[str, Any] | None]:
    """The champion version and its training-window feature profile (None when absent)."""
    import mlflow

    champion = store.alias_version(client, name, store.CHAMPION)
    if champion is None:
        return None, None
    try:
        path = mlflow.artifacts.download_artifacts(
            run_id=champion.run_id, artifact_path=PROFILE_ARTIFACT)
    except Exception as exc:
        log.info("%s v%s has no feature profile (%s): drift not measured", name,
                 champion.version, exc)
        return champion, None
    return champion, json.loads(Path(path).read_text())


def measure_drift(params: Params, features: pd.DataFrame, registry: RegistryConfig,
                  now: datetime) -> dict[str, Any] | None:
    """PSI of the newest holdout-sized slice against the champion's profile, and its age.

    None when the task has no champion yet.
    """
    from alphaloop.cv import resolve_embargo
    from alphaloop.models.inputs import default_feature_columns
    from alphaloop.stages.ensemble import task_of

    client = registry.connect()
    columns = list(params.train.feature_columns or default_feature_columns(features))
    name = task_of(params, features, columns).registered_name
    try:
        champion, profile = champion_profile(client, name)
    except Exception:
        return None
    if champion is None:
        return None
    age = champion_age_days(champion.creation_timestamp, now)
    recent = features.tail(max(1, resolve_embargo(params.cv.holdout, len(features))))
    report = drift_report(profile, recent, params.retrain.drift.psi_threshold) \
        if profile is not None else None
    reasons = early_retrain_reasons(report, age, trigger_params(params))
    if report is not None:
        record_drift(client, name, str(champion.version), report.to_dict())
    return {"champion_version": str(champion.version), "champion_age_days": round(age, 3),
            **(report.to_dict() if report is not None else {}), "early_retrain": reasons}


def record_drift(client: Any, name: str, version: str, drift: dict[str, Any]) -> None:
    """Keep the newest drift measurement on the champion's version (for ``alphaloop models``)."""
    client.set_model_version_tag(name, version, "drift.max_psi",
                                 repr(float(drift.get("max_psi", float("nan")))))
    client.set_model_version_tag(name, version, "drift.share_drifted",
                                 repr(float(drift.get("share_drifted", float("nan")))))
    client.set_model_version_tag(name, version, "drift.measured_at", datetime.now().isoformat())


def champion_drift_line(registry: RegistryConfig, name: str) -> str:
    """The champion's last measured drift, e.g. ``max PSI 0.31, 12% drifted (2026-12-02)``."""
    client = registry.connect()
    champion = store.alias_version(client, name, store.CHAMPION)
    tags = dict(champion.tags or {}) if champion is not None else {}
    if "drift.max_psi" not in tags:
        return "not measured"
    return (f"max PSI {float(tags['drift.max_psi']):.2f}, "
            f"{float(tags['drift.share_drifted']):.0%} drifted "
            f"({tags.get('drift.measured_at', '')[:10]})")
