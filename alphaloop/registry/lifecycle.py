"""The champion/challenger lifecycle of one task: register, gate, compare-and-set promotion.

A new version always becomes ``challenger``. The gate then scores the challenger *and* the
current champion afresh on the same holdout (the most recent data, which neither trained on)
and promotes only if the challenger clears the floor, beats the baseline and beats the
champion. Promotion is compare-and-set under a per-task lock: if another run moved the
champion between this run's decision and its commit, the decision is made again against the
new champion, so concurrent runs never leave the worse model as champion nor point
``previous_champion`` at the wrong version. A champion that saw part of the holdout, or that
cannot be loaded, is never compared with: the challenger is refused and the champion stays.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alphaloop.registry import store
from alphaloop.registry.gate import GateDecision, GateRule, check_rule, decide
from alphaloop.registry.lineage import lineage_tags
from alphaloop.registry.task import Task
from alphaloop.registry.tracking import InputData, log_contents, run_name

log = logging.getLogger(__name__)

LOCK_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class RegistryConfig:
    """Where the registry, its audit log and its locks live."""

    tracking_uri: str | None = None  # None: sqlite under <root>/mlruns
    root: Path = Path(".")
    audit_path: Path | None = None  # None: <root>/mlruns/audit.jsonl
    lock_dir: Path | None = None  # None: <root>/mlruns/locks (one machine; see README)

    @property
    def audit(self) -> Path:
        return self.audit_path or self.root / "mlruns" / "audit.jsonl"

    @property
    def locks(self) -> Path:
        return self.lock_dir or self.root / "mlruns" / "locks"

    def connect(self) -> Any:
        """Point MLflow at the store and return a client."""
        import mlflow

        store.configure_tracking(self.tracking_uri, self.root)
        return mlflow.MlflowClient()

    def lock(self, name: str) -> Any:
        from filelock import FileLock

        self.locks.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.locks / f"{name}.lock"), timeout=LOCK_TIMEOUT_S)


@dataclass(frozen=True)
class Holdout:
    """The recent data both models are scored on, and how to score a model on it.

    Attributes:
        description: Human-readable window, e.g. ``2021-12-17 → 2021-12-29 (1,213 bars)``.
        score: A native model -> metrics on the holdout.
        baselines: Baseline name -> metrics on the same holdout.
        load: A registered version's model URI -> the native model ``score`` takes.
        overlap: A version's tags -> why it cannot be compared (it trained on the holdout),
            or None when it is safe to score.
        bounds: Tags describing the window (``holdout_start``, ``holdout_end``, ...).
    """

    description: str
    score: Callable[[Any], dict[str, float]]
    baselines: dict[str, dict[str, float]]
    load: Callable[[str], Any]
    overlap: Callable[[dict[str, str]], str | None]
    bounds: dict[str, str] = field(default_factory=dict)


@dataclass
class Candidate:
    """A trained model handed to the registry, with what it needs to be judged and traced."""

    task: Task
    rule: GateRule
    model: Any
    holdout: Holdout
    log_model: Callable[[str], Any]  # registered name -> mlflow ModelInfo
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # logged, not gated
    data_version: str | None = None
    data_path: str = ""
    git_commit: str | None = None
    tags: dict[str, str] = field(default_factory=dict)  # train_start, train_end, ...
    artifacts: dict[str, Any] = field(default_factory=dict)  # folder -> file(s) or directory
    key: str = "model"  # the candidate's name in score tables
    data: InputData | None = None  # logged with mlflow.log_input
    lineage_root: Path | None = None  # its params.yaml and dvc.lock are logged
    model_hash: str | None = None  # content hash of the saved model (tag ``model_hash``)
    reuse_identical: bool = False  # an identical model on the same data: no new version


@dataclass(frozen=True)
class Registration:
    """What happened to one candidate."""

    task: Task
    name: str
    version: str
    run_id: str
    promoted: bool
    reasons: list[str]
    holdout: str
    scores: dict[str, dict[str, float]]  # candidate, champion (if scored), baselines
    champion_version: str | None
    previous_champion_version: str | None
    compared_with: str | None  # champion version the final decision was made against

    def to_dict(self) -> dict[str, Any]:
        return {"task": str(self.task), "model": self.name, "version": self.version,
                "run_id": self.run_id, "promoted": self.promoted, "reasons": self.reasons,
                "holdout": self.holdout, "scores": self.scores,
                "champion_version": self.champion_version,
                "previous_champion_version": self.previous_champion_version,
                "compared_with": self.compared_with}


def window_overlap(start: Any) -> Callable[[dict[str, str]], str | None]:
    """``Holdout.overlap`` for time series: a version whose ``train_end`` reaches the holdout."""
    import pandas as pd

    first = pd.Timestamp(start)

    def overlap(tags: dict[str, str]) -> str | None:
        end = tags.get("train_end")
        if end is None:
            return "records no training window"
        if pd.Timestamp(end) >= first:
            return f"trained on bars up to {end}, inside this holdout (from {first})"
        return None

    return overlap


def pyfunc_loader(attribute: str) -> Callable[[str], Any]:
    """``Holdout.load``: the native model held by one of our pyfunc wrappers."""

    def load(uri: str) -> Any:
        import mlflow

        return getattr(mlflow.pyfunc.load_model(uri).unwrap_python_model(), attribute)

    return load


def ensure_registered_model(client: Any, task: Task) -> str:
    """The task's registered model, created with its task tags if it does not exist."""
    from mlflow.exceptions import MlflowException

    name = task.registered_name
    try:
        client.get_registered_model(name)
    except MlflowException:
        try:
            client.create_registered_model(name, tags=task.tags(),
                                           description=f"alphaloop task: {task}")
        except MlflowException:
            client.get_registered_model(name)  # created concurrently: fine
    return name


def score_champion(champion: Any, holdout: Holdout) -> tuple[dict[str, float] | None, str]:
    """The champion's metrics on this holdout, or None and why it cannot be compared."""
    reason = holdout.overlap(dict(champion.tags or {}))
    if reason is not None:
        return None, f"champion v{champion.version} {reason}: no fair comparison"
    try:
        model = holdout.load(f"models:/{champion.name}/{champion.version}")
        return holdout.score(model), ""
    except Exception as exc:
        return None, f"champion v{champion.version} could not be scored ({exc})"


def judge(scores: dict[str, float], champion: Any | None, holdout: Holdout, rule: GateRule
          ) -> tuple[GateDecision, dict[str, float] | None]:
    """The gate's decision against ``champion`` (scored afresh on the holdout)."""
    baseline = holdout.baselines.get(rule.baseline) if rule.baseline is not None else None
    if champion is None:
        return decide(scores, baseline, None, rule), None
    champion_scores, why = score_champion(champion, holdout)
    if champion_scores is None:
        decision = decide(scores, baseline, None, rule)
        return GateDecision(False, [*decision.reasons, why], decision.candidate_score), None
    return decide(scores, baseline, champion_scores, rule), champion_scores


def register_candidate(candidate: Candidate, registry: RegistryConfig,
                       before_commit: Callable[[], None] | None = None) -> Registration:
    """Log, register and gate one candidate; move aliases under the task's lock.

    Args:
        candidate: The trained model, its holdout and lineage.
        registry: Store, audit log and locks.
        before_commit: Called after the decision, before the lock is taken (tests use it to
            force two registrations to interleave).
    """
    import mlflow

    task, rule, holdout = candidate.task, candidate.rule, candidate.holdout
    scores = holdout.score(candidate.model)
    table = {candidate.key: scores, **holdout.baselines}
    check_rule(rule, table, candidate.key, f"register.{task.kind}")
    client = registry.connect()
    name = ensure_registered_model(client, task)
    store.sync_outside_moves(client, name, registry.audit, str(task))
    tags = {**lineage_tags(data_version=candidate.data_version, git_commit=candidate.git_commit,
                           params=candidate.params, metrics=scores,
                           data_path=candidate.data_path),
            **task.tags(), **holdout.bounds, **candidate.tags}
    if candidate.model_hash is not None:
        tags["model_hash"] = candidate.model_hash
    if candidate.reuse_identical:
        same = identical_version(client, name, tags)
        if same is not None:
            return _unchanged(client, candidate, same, table)
    what = f"{task.kind} {task.symbol} {task.timeframe} h{task.horizon}"
    with mlflow.start_run(run_name=run_name(what, holdout.bounds.get("holdout_end"))) as run:
        log_contents(params=candidate.params, metrics={"holdout": table, **candidate.metrics},
                     tags=tags, data=candidate.data, artifacts=candidate.artifacts,
                     root=candidate.lineage_root)
        info = candidate.log_model(name)
        run_id = run.info.run_id
    version = str(info.registered_model_version)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    with registry.lock(name):
        store.move_alias(client, name, store.CHALLENGER, version, source="pipeline",
                         reason="newly trained", audit_path=registry.audit, metrics=scores,
                         task=str(task))
    decision, compared = _decide_and_commit(client, name, version, scores, candidate, registry,
                                            before_commit)
    champion = store.alias_version(client, name, store.CHAMPION)
    previous = store.alias_version(client, name, store.PREVIOUS)
    if compared[1] is not None:
        table = {**table, "champion": compared[1]}
    return Registration(
        task=task, name=name, version=version, run_id=run_id, promoted=decision.promote,
        reasons=decision.reasons, holdout=holdout.description, scores=table,
        champion_version=str(champion.version) if champion is not None else None,
        previous_champion_version=str(previous.version) if previous is not None else None,
        compared_with=compared[0])


def identical_version(client: Any, name: str, tags: dict[str, str]) -> Any | None:
    """The task's newest version holding the same model bytes trained on the same data."""
    if "model_hash" not in tags:
        return None
    for version in sorted(client.search_model_versions(f"name='{name}'"),
                          key=lambda v: -int(v.version)):
        seen = dict(version.tags or {})
        if seen.get("model_hash") == tags["model_hash"] \
                and seen.get("data_version") == tags["data_version"]:
            return version
    return None


def _unchanged(client: Any, candidate: Candidate, same: Any,
               table: dict[str, dict[str, float]]) -> Registration:
    """What a re-run with an identical model reports: the version that already holds it."""
    name = same.name
    champion = store.alias_version(client, name, store.CHAMPION)
    previous = store.alias_version(client, name, store.PREVIOUS)
    tags = dict(same.tags or {})
    note = (f"unchanged: the same model on the same data is already v{same.version} "
            "(no new version, its gate decision stands)")
    log.info("%s: %s", name, note)
    return Registration(
        task=candidate.task, name=name, version=str(same.version), run_id=str(same.run_id),
        promoted=tags.get("gate.decision") == "promoted",
        reasons=[note, *([tags["gate.reason"]] if tags.get("gate.reason") else [])],
        holdout=candidate.holdout.description, scores=table,
        champion_version=_version(champion), previous_champion_version=_version(previous),
        compared_with=None)


def _decide_and_commit(client: Any, name: str, version: str, scores: dict[str, float],
                       candidate: Candidate, registry: RegistryConfig,
                       before_commit: Callable[[], None] | None
                       ) -> tuple[GateDecision, tuple[str | None, dict[str, float] | None]]:
    """Decide against the champion seen, then commit only if it is still the champion."""
    task, rule, holdout = candidate.task, candidate.rule, candidate.holdout
    seen = store.alias_version(client, name, store.CHAMPION)
    while True:
        decision, champion_scores = judge(scores, seen, holdout, rule)
        if before_commit is not None:
            before_commit()
            before_commit = None  # only the first decision is held back
        with registry.lock(name):
            current = store.alias_version(client, name, store.CHAMPION)
            if _version(current) != _version(seen):
                log.info("%s: champion moved from v%s to v%s while deciding; deciding again",
                         name, _version(seen), _version(current))
                seen = current
                continue
            _apply(client, name, version, seen, decision, scores, registry, str(task))
            return decision, (_version(seen), champion_scores)


def _apply(client: Any, name: str, version: str, champion: Any | None, decision: GateDecision,
           scores: dict[str, float], registry: RegistryConfig, task: str) -> None:
    reason = "; ".join(decision.reasons)
    client.set_model_version_tag(name, version, "gate.decision",
                                 "promoted" if decision.promote else "rejected")
    client.set_model_version_tag(name, version, "gate.reason", reason[:5000])
    if decision.promote:
        store.promote(client, name, version, source="gate", reason=reason,
                      audit_path=registry.audit, metrics=scores, task=task)
        log.info("%s v%s is the new champion: %s", name, version, reason)
    elif champion is None:
        log.warning("%s v%s did not pass the gate and there is no champion: %s. A person can "
                    "promote it with `alphaloop promote %s %s`", name, version, reason, name,
                    version)
    else:
        log.warning("%s v%s did not pass the gate; champion v%s stays: %s", name, version,
                    champion.version, reason)


def _version(model_version: Any | None) -> str | None:
    return str(model_version.version) if model_version is not None else None
