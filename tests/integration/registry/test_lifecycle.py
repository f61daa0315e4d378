"""The champion/challenger lifecycle against a real MLflow sqlite store on tmp_path.

Models here are tiny pyfuncs with a known holdout accuracy, so each gate branch is exercised
exactly; the flow tests run the same lifecycle on real trained models.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from alphaloop.registry import store
from alphaloop.registry.gate import GateRule
from alphaloop.registry.lifecycle import Candidate, Holdout, RegistryConfig, register_candidate
from alphaloop.registry.manual import audit_entries, model_states, promote_by_hand, rollback
from alphaloop.registry.task import Task

pytestmark = pytest.mark.integration

RULE = GateRule(metric="accuracy", floor=0.5, baseline="majority")
MAJORITY = {"majority": {"accuracy": 0.5}}


class Scored:
    """A stand-in model whose holdout accuracy is fixed (what the holdout's scorer reads)."""

    def __init__(self, accuracy: float) -> None:
        self.accuracy = accuracy


def holdout(train_end_ok: bool = True) -> Holdout:
    import mlflow

    def load(uri: str) -> Any:
        return mlflow.pyfunc.load_model(uri).unwrap_python_model()

    return Holdout("test holdout (2 rows)", lambda m: {"accuracy": m.accuracy}, MAJORITY, load,
                   lambda tags: None if train_end_ok or tags.get("x") else "saw the holdout",
                   {"holdout_start": "2024-01-02"})


def candidate(task: Task, accuracy: float, rule: GateRule = RULE) -> Candidate:
    import mlflow

    class Pyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def __init__(self) -> None:
            self.accuracy = accuracy

        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            return model_input

    def log_model(name: str) -> Any:
        return mlflow.pyfunc.log_model(name="model", python_model=Pyfunc(),
                                       registered_model_name=name)

    return Candidate(task=task, rule=rule, model=Scored(accuracy), holdout=holdout(),
                     log_model=log_model, params={"accuracy": accuracy}, data_version="d" * 32,
                     data_path="x.parquet", tags={"train_end": "2024-01-01"})


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> RegistryConfig:
    import mlflow

    root = tmp_path_factory.mktemp("registry")
    config = RegistryConfig(root=root)
    config.connect()  # creates the schema once for the module
    yield config
    mlflow.set_tracking_uri(None)


@pytest.fixture
def task(request: pytest.FixtureRequest) -> Task:
    return Task("ensemble", request.node.name[:30], "15m", 4, "abcd1234")


def champion(registry: RegistryConfig, task: Task, alias: str = store.CHAMPION) -> str | None:
    mv = store.alias_version(registry.connect(), task.registered_name, alias)
    return str(mv.version) if mv is not None else None


def test_first_good_run_promoted_then_floor_then_better_then_rollback(
        registry: RegistryConfig, task: Task) -> None:
    first = register_candidate(candidate(task, 0.60), registry)
    assert first.promoted and champion(registry, task) == first.version
    assert first.previous_champion_version is None

    low = register_candidate(candidate(task, 0.45), registry)
    assert not low.promoted and champion(registry, task) == first.version
    assert champion(registry, task, store.CHALLENGER) == low.version
    tags = registry.connect().get_model_version(task.registered_name, low.version).tags
    assert tags["gate.decision"] == "rejected" and "below the floor" in tags["gate.reason"]

    better = register_candidate(candidate(task, 0.70), registry)
    assert better.promoted and better.compared_with == first.version
    assert better.scores["champion"]["accuracy"] == pytest.approx(0.60)  # scored afresh
    assert champion(registry, task) == better.version
    assert champion(registry, task, store.PREVIOUS) == first.version

    rollback(registry, task.registered_name, "bad fills")
    assert champion(registry, task) == first.version
    assert champion(registry, task, store.PREVIOUS) == better.version

    moves = [(e["alias"], e["from_version"], e["to_version"], e["source"])
             for e in audit_entries(registry, task.registered_name)]
    assert moves == [
        ("challenger", None, first.version, "pipeline"), ("champion", None, first.version, "gate"),
        ("challenger", first.version, low.version, "pipeline"),
        ("challenger", low.version, better.version, "pipeline"),
        ("previous_champion", None, first.version, "gate"),
        ("champion", first.version, better.version, "gate"),
        ("previous_champion", first.version, better.version, "rollback"),
        ("champion", better.version, first.version, "rollback")]
    for entry in audit_entries(registry, task.registered_name):
        assert entry["task"] and entry["actor"] and entry["time"] and "metrics" in entry


def test_a_tie_keeps_the_champion(registry: RegistryConfig, task: Task) -> None:
    first = register_candidate(candidate(task, 0.60), registry)
    same = register_candidate(candidate(task, 0.60), registry)
    assert not same.promoted and champion(registry, task) == first.version
    assert any("does not beat the champion" in r for r in same.reasons)


def test_nan_metric_is_refused_even_without_floor_or_baseline(
        registry: RegistryConfig, task: Task) -> None:
    open_rule = GateRule(metric="accuracy", floor=None, baseline=None)
    result = register_candidate(candidate(task, float("nan"), open_rule), registry)
    assert not result.promoted and champion(registry, task) is None
    assert "refused" in result.reasons[0]
    # ...and a later finite model is still promoted: NaN never blocks the task.
    assert register_candidate(candidate(task, 0.51, open_rule), registry).promoted


def test_two_tasks_keep_separate_champions(registry: RegistryConfig, task: Task) -> None:
    other = Task("ensemble", task.symbol + "-fx", "1h", 4, "abcd1234")
    a = register_candidate(candidate(task, 0.80), registry)
    b = register_candidate(candidate(other, 0.55), registry)
    # b is worse than a's champion but is the first of its own task: promoted there.
    assert a.promoted and b.promoted and b.compared_with is None
    assert champion(registry, task) == a.version and champion(registry, other) == b.version
    names = {s.name: s for s in model_states(registry)}
    assert names[other.registered_name].task == other


def test_alias_moved_outside_is_honoured_and_audited(registry: RegistryConfig,
                                                      task: Task) -> None:
    first = register_candidate(candidate(task, 0.60), registry)
    second = register_candidate(candidate(task, 0.55), registry)
    assert not second.promoted
    client = registry.connect()
    # What the MLflow UI does when a person moves the alias.
    client.set_registered_model_alias(task.registered_name, "champion", second.version)
    third = register_candidate(candidate(task, 0.58), registry)
    assert third.compared_with == second.version and third.promoted  # beats 0.55, not 0.60
    outside = [e for e in audit_entries(registry, task.registered_name)
               if e["source"] == "outside"]
    assert len(outside) == 1
    assert (outside[0]["from_version"], outside[0]["to_version"]) == (first.version,
                                                                      second.version)


def test_interleaved_promotions_end_with_the_better_model(registry: RegistryConfig,
                                                          task: Task) -> None:
    base = register_candidate(candidate(task, 0.55), registry)
    barrier = threading.Barrier(2, timeout=60)
    results: dict[float, Any] = {}

    def run(accuracy: float) -> None:
        # Both decide against the same champion, then wait for each other before committing.
        results[accuracy] = register_candidate(candidate(task, accuracy), registry,
                                               before_commit=barrier.wait)

    threads = [threading.Thread(target=run, args=(a,)) for a in (0.70, 0.62)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    best, worse = results[0.70], results[0.62]
    assert champion(registry, task) == best.version
    previous = champion(registry, task, store.PREVIOUS)
    # Whichever committed first, previous_champion is the version the best one replaced.
    assert previous == (worse.version if worse.promoted else base.version)
    moves = [e for e in audit_entries(registry, task.registered_name)
             if e["alias"] == "champion"]
    assert moves[-1]["to_version"] == best.version


def test_a_champion_that_saw_the_holdout_is_not_compared(registry: RegistryConfig,
                                                          task: Task) -> None:
    register_candidate(candidate(task, 0.60), registry)
    unfair = candidate(task, 0.90)
    unfair.holdout = holdout(train_end_ok=False)
    result = register_candidate(unfair, registry)
    assert not result.promoted and any("no fair comparison" in r for r in result.reasons)


def test_manual_promote_and_unknown_model(registry: RegistryConfig, task: Task) -> None:
    from alphaloop.registry.manual import RegistryError

    first = register_candidate(candidate(task, 0.60), registry)
    low = register_candidate(candidate(task, 0.40), registry)
    entries = promote_by_hand(registry, task.registered_name, low.version, "reviewed")
    assert entries[-1]["source"] == "manual" and champion(registry, task) == low.version
    assert champion(registry, task, store.PREVIOUS) == first.version
    with pytest.raises(RegistryError, match="no registered model 'nope'"):
        promote_by_hand(registry, "nope", None, "x")
    with pytest.raises(RegistryError, match="no version"):
        promote_by_hand(registry, task.registered_name, "99", "x")


def test_registry_paths_default_under_root(tmp_path: Path) -> None:
    config = RegistryConfig(root=tmp_path)
    assert config.audit == tmp_path / "mlruns" / "audit.jsonl"
    assert config.locks == tmp_path / "mlruns" / "locks"
