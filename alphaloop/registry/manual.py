"""A person's control of the registry: promote, roll back, list tasks, audit.

Each call first records alias moves made outside the tool (``store.sync_outside_moves``), so
the MLflow UI and the CLI can be mixed freely and the audit log still tells the whole story.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alphaloop.registry import store
from alphaloop.registry.lifecycle import RegistryConfig
from alphaloop.registry.task import Task


class RegistryError(ValueError):
    """A registry request that cannot be carried out (unknown model, missing alias...)."""


def task_models(client: Any) -> list[Any]:
    """Registered models that carry an alphaloop task, sorted by name."""
    found = client.search_registered_models(max_results=1000)
    return sorted((m for m in found if Task.from_tags(dict(m.tags or {})) is not None),
                  key=lambda m: m.name)


def resolve_model(client: Any, given: str) -> str:
    """A registered name from the full name, or a prefix/kind matching exactly one task."""
    names = [m.name for m in task_models(client)]
    if given in names:
        return given
    matches = [n for n in names if n.startswith(given)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(names) or "none yet (run `alphaloop retrain run` or `dvc repro`)"
        raise RegistryError(f"no registered model {given!r}; known models: {known}")
    raise RegistryError(f"{given!r} matches {len(matches)} models ({', '.join(matches)}): "
                        "give the full name")


def promote_by_hand(registry: RegistryConfig, model: str, version: str | None,
                    reason: str) -> list[dict[str, Any]]:
    """Make a version the champion (default: the challenger); recorded as ``manual``."""
    from mlflow.exceptions import MlflowException

    client = registry.connect()
    name = resolve_model(client, model)
    store.sync_outside_moves(client, name, registry.audit)
    if version is None:
        challenger = store.alias_version(client, name, store.CHALLENGER)
        if challenger is None:
            raise RegistryError(f"{name} has no challenger; pass a version")
        version = str(challenger.version)
    try:
        target = client.get_model_version(name, version)
    except MlflowException as exc:
        raise RegistryError(f"{name} has no version {version!r}") from exc
    with registry.lock(name):
        entries = store.promote(client, name, version, source="manual", reason=reason,
                                audit_path=registry.audit, metrics=store.version_metrics(target))
    if not entries:
        raise RegistryError(f"{name} v{version} is already the champion")
    return entries


def rollback(registry: RegistryConfig, model: str, reason: str) -> list[dict[str, Any]]:
    """Champion back to ``previous_champion``; the outgoing one becomes ``previous_champion``."""
    client = registry.connect()
    name = resolve_model(client, model)
    store.sync_outside_moves(client, name, registry.audit)
    with registry.lock(name):
        previous = store.alias_version(client, name, store.PREVIOUS)
        if previous is None:
            raise RegistryError(f"{name} has no previous_champion to roll back to")
        return store.promote(client, name, str(previous.version), source="rollback",
                             reason=reason, audit_path=registry.audit,
                             metrics=store.version_metrics(previous))


@dataclass(frozen=True)
class AliasState:
    alias: str
    version: str | None
    metrics: dict[str, float]
    created: datetime | None
    decision: str | None

    def age_days(self, now: datetime) -> float | None:
        return None if self.created is None else (now - self.created).total_seconds() / 86400


@dataclass(frozen=True)
class ModelState:
    """One task's registry state, for ``alphaloop models`` and the flow's report."""

    name: str
    task: Task
    aliases: dict[str, AliasState]
    versions: int


def model_states(registry: RegistryConfig) -> list[ModelState]:
    """Every task's champion, challenger and previous champion with metrics and age."""
    client = registry.connect()
    states = []
    for model in task_models(client):
        store.sync_outside_moves(client, model.name, registry.audit)
        task = Task.from_tags(dict(model.tags or {}))
        assert task is not None  # task_models keeps only tagged models
        aliases = {}
        for alias in store.ALIASES:
            mv = store.alias_version(client, model.name, alias)
            aliases[alias] = AliasState(
                alias, str(mv.version) if mv is not None else None,
                store.version_metrics(mv) if mv is not None else {},
                datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC)
                if mv is not None else None,
                (mv.tags or {}).get("gate.decision") if mv is not None else None)
        count = len(client.search_model_versions(f"name='{model.name}'"))
        states.append(ModelState(model.name, task, aliases, count))
    return states


def audit_entries(registry: RegistryConfig, model: str | None = None) -> list[dict[str, Any]]:
    """The audit log after recording any outside moves, optionally for one model."""
    client = registry.connect()
    names = [resolve_model(client, model)] if model else [m.name for m in task_models(client)]
    for name in names:
        store.sync_outside_moves(client, name, registry.audit)
    entries = store.read_audit(registry.audit)
    return [e for e in entries if model is None or e.get("model") in names]
