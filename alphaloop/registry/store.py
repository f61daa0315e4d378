"""MLflow registry operations: tracking set-up, alias moves with an audit trail.

Aliases per registered model (one per task): ``champion`` (what serving loads), ``challenger``
(the newest candidate) and ``previous_champion`` (what a rollback returns to). Every move is
appended to a JSON-lines audit log and stamped on the version as a tag, so the decision
survives with the registry even when the local log does not. The version each alias had after
the tool's last move is kept as a registered-model tag: an alias that differs from it was moved
outside the tool (the MLflow UI or API), which ``sync_outside_moves`` detects and records.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alphaloop.registry.task import Task

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous_champion"
ALIASES = (CHAMPION, CHALLENGER, PREVIOUS)
DEFAULT_EXPERIMENT = "alphaloop"
KNOWN_ALIAS_TAG = "alphaloop.alias."  # + alias -> version after the tool's last move
OUTSIDE = "outside"


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
        try:
            mlflow.create_experiment(experiment, artifact_location=location)
        except Exception:
            if mlflow.get_experiment_by_name(experiment) is None:
                raise
    mlflow.set_experiment(experiment)
    return uri


def actor_name() -> str:
    """Who is acting: ``ALPHALOOP_ACTOR`` or the login name (a flow run names its worker)."""
    try:
        return os.environ.get("ALPHALOOP_ACTOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def alias_version(client: Any, name: str, alias: str) -> Any | None:
    """The model version behind an alias, or None when the alias (or model) is not set."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def version_metrics(version: Any) -> dict[str, float]:
    """Validation metrics stored on a version as ``metric.<name>`` tags."""
    return {k.removeprefix("metric."): float(v) for k, v in (version.tags or {}).items()
            if k.startswith("metric.")}


def task_label(client: Any, name: str, model: Any | None = None) -> str:
    """The task a registered model serves, as audit lines show it (its name if untagged)."""
    from mlflow.exceptions import MlflowException

    try:
        model = model or client.get_registered_model(name)
    except MlflowException:
        return name
    task = Task.from_tags(dict(model.tags or {}))
    return str(task) if task is not None else name


def _entry(name: str, alias: str, before: str | None, after: str | None, *, actor: str,
           source: str, reason: str, metrics: dict[str, float] | None,
           task: str | None) -> dict[str, Any]:
    return {"time": datetime.now(UTC).isoformat(), "task": task or name, "model": name,
            "alias": alias, "from_version": before, "to_version": after,
            "metrics": metrics or {}, "reason": reason, "actor": actor, "source": source}


def append_audit(audit_path: Path | None, entry: dict[str, Any]) -> None:
    if audit_path is None:
        return
    audit_path.parent.mkdir(parents=True, exist_ok=True)
    with audit_path.open("a") as fh:
        fh.write(json.dumps(entry, default=str) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def move_alias(client: Any, name: str, alias: str, version: str, *, source: str, reason: str,
               audit_path: Path | None, actor: str | None = None,
               metrics: dict[str, float] | None = None,
               task: str | None = None) -> dict[str, Any]:
    """Point ``alias`` at ``version`` and record who moved it, from where, and why."""
    current = alias_version(client, name, alias)
    task = task or task_label(client, name)
    client.set_registered_model_alias(name, alias, str(version))
    client.set_registered_model_tag(name, KNOWN_ALIAS_TAG + alias, str(version))
    entry = _entry(name, alias, str(current.version) if current is not None else None,
                   str(version), actor=actor or actor_name(), source=source, reason=reason,
                   metrics=metrics, task=task)
    stamp = entry["time"].replace(":", "").replace("-", "")[:15]
    client.set_model_version_tag(name, str(version), f"audit.{alias}.{stamp}",
                                 f"{source} ({entry['actor']}): {reason}"[:5000])
    append_audit(audit_path, entry)
    log.info("%s@%s: %s -> v%s (%s: %s)", name, alias, entry["from_version"], version, source,
             reason)
    return entry


def promote(client: Any, name: str, version: str, *, source: str, reason: str,
            audit_path: Path | None, metrics: dict[str, float] | None = None,
            task: str | None = None) -> list[dict[str, Any]]:
    """Make ``version`` the champion; the outgoing champion becomes ``previous_champion``."""
    entries: list[dict[str, Any]] = []
    current = alias_version(client, name, CHAMPION)
    if current is not None and str(current.version) == str(version):
        log.info("%s v%s is already the champion", name, version)
        return entries
    if current is not None:
        entries.append(move_alias(client, name, PREVIOUS, current.version, source=source,
                                  reason=f"replaced by v{version}", audit_path=audit_path,
                                  metrics=version_metrics(current), task=task))
    entries.append(move_alias(client, name, CHAMPION, version, source=source, reason=reason,
                              audit_path=audit_path, metrics=metrics, task=task))
    return entries


def sync_outside_moves(client: Any, name: str, audit_path: Path | None,
                       task: str | None = None) -> list[dict[str, Any]]:
    """Record alias moves made outside the tool (MLflow UI or API) since its last own move.

    The registry's aliases are what everything follows; this only makes the move visible in
    the audit log and re-bases the tool's record on it.
    """
    model = client.get_registered_model(name)
    tags = dict(model.tags or {})
    task = task or task_label(client, name, model)
    entries = []
    for alias in ALIASES:
        known = tags.get(KNOWN_ALIAS_TAG + alias)
        current = alias_version(client, name, alias)
        actual = str(current.version) if current is not None else None
        if known is None and actual is None:
            continue
        if known == actual:
            continue
        if known is None and alias != CHAMPION:
            # Never recorded by the tool and not the champion: nothing to explain.
            client.set_registered_model_tag(name, KNOWN_ALIAS_TAG + alias, actual)
            continue
        entry = _entry(name, alias, known, actual, actor="unknown (outside alphaloop)",
                       source=OUTSIDE, reason="alias moved outside alphaloop (MLflow UI or API)",
                       metrics=version_metrics(current) if current is not None else None,
                       task=task)
        append_audit(audit_path, entry)
        if actual is None:
            client.delete_registered_model_tag(name, KNOWN_ALIAS_TAG + alias)
        else:
            client.set_registered_model_tag(name, KNOWN_ALIAS_TAG + alias, actual)
        log.warning("%s@%s was moved outside alphaloop: v%s -> v%s; following the registry",
                    name, alias, known, actual)
        entries.append(entry)
    return entries


def read_audit(audit_path: Path) -> list[dict[str, Any]]:
    if not audit_path.exists():
        return []
    return [json.loads(line) for line in audit_path.read_text().splitlines() if line.strip()]
