"""MLflow registry operations: tracking set-up, alias moves with an audit trail.

Aliases per registered model: ``champion`` (what serving loads), ``challenger`` (the newest
candidate) and ``previous_champion`` (what a rollback returns to). Every move is appended to a
JSON-lines audit log and stamped on the model version as tags, so the decision survives with
the registry even when the local log does not.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous_champion"
DEFAULT_EXPERIMENT = "alphaloop"


def default_tracking_uri(root: Path) -> str:
    """The embedded default: a sqlite file under ``mlruns/``."""
    return f"sqlite:///{(root / 'mlruns' / 'mlflow.db').resolve()}"


def configure_tracking(tracking_uri: str | None, root: Path,
                       experiment: str = DEFAULT_EXPERIMENT) -> str:
    """Point MLflow at the configured server, or at the local sqlite store by default."""
    import mlflow

    uri = tracking_uri or default_tracking_uri(root)
    if uri.startswith("sqlite:///"):
        (root / "mlruns").mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        # Local store: keep artifacts beside the db instead of MLflow's cwd-relative default.
        location = ((root / "mlruns" / "artifacts").resolve().as_uri()
                    if uri.startswith("sqlite:") else None)
        mlflow.create_experiment(experiment, artifact_location=location)
    mlflow.set_experiment(experiment)
    return uri


def alias_version(client: Any, name: str, alias: str) -> Any | None:
    """The model version behind an alias, or None when the alias is not set."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def version_metrics(version: Any) -> dict[str, float]:
    """Validation metrics stored on a version as ``metric.<name>`` tags."""
    return {k.removeprefix("metric."): float(v) for k, v in (version.tags or {}).items()
            if k.startswith("metric.")}


def move_alias(client: Any, name: str, alias: str, version: str, *, actor: str, reason: str,
               audit_path: Path | None) -> dict[str, Any]:
    """Point ``alias`` at ``version`` and record who moved it, from where, and why."""
    current = alias_version(client, name, alias)
    client.set_registered_model_alias(name, alias, str(version))
    now = datetime.now(UTC).isoformat()
    entry = {
        "time": now,
        "model": name,
        "alias": alias,
        "from_version": str(current.version) if current is not None else None,
        "to_version": str(version),
        "actor": actor,
        "reason": reason,
    }
    stamp = now.replace(":", "").replace("-", "")[:15]
    client.set_model_version_tag(name, str(version), f"audit.{alias}.{stamp}",
                                 f"{actor}: {reason}"[:5000])
    if audit_path is not None:
        audit_path.parent.mkdir(parents=True, exist_ok=True)
        with audit_path.open("a") as fh:
            fh.write(json.dumps(entry) + "\n")
    log.info("%s@%s: %s -> %s (%s: %s)", name, alias, entry["from_version"], version, actor,
             reason)
    return entry


def promote(client: Any, name: str, version: str, *, actor: str, reason: str,
            audit_path: Path | None) -> list[dict[str, Any]]:
    """Make ``version`` the champion; the outgoing champion becomes ``previous_champion``."""
    entries: list[dict[str, Any]] = []
    current = alias_version(client, name, CHAMPION)
    if current is not None and str(current.version) == str(version):
        log.info("%s v%s is already the champion", name, version)
        return entries
    if current is not None:
        entries.append(move_alias(client, name, PREVIOUS, current.version, actor=actor,
                                  reason=f"replaced by v{version}", audit_path=audit_path))
    entries.append(move_alias(client, name, CHAMPION, version, actor=actor, reason=reason,
                              audit_path=audit_path))
    return entries


def read_audit(audit_path: Path) -> list[dict[str, Any]]:
    if not audit_path.exists():
        return []
    return [json.loads(line) for line in audit_path.read_text().splitlines() if line.strip()]
