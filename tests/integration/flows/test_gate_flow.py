"""Every branch of the champion/challenger gate, each through real ``retrain`` flow runs.

A real Prefect API (the test harness) and a real sqlite MLflow store under ``tmp_path``. The
bars carry a planted momentum signal, so a real ensemble has skill and a one-member model that
can never split (a constant forecast) has none: which model is better is known in advance, and
the gate has to find it out on its own holdout.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from alphaloop.registry import store
from alphaloop.registry.lifecycle import RegistryConfig
from alphaloop.registry.manual import audit_entries, model_states
from tests.integration.flows.conftest import (
    WEAK_MEMBERS,
    file_source,
    planted_bars_file,
    write_project,
)

pytestmark = pytest.mark.integration

OPEN_GATE = {"ensemble": {"floor": None, "require_beat_baseline": False}}


@pytest.fixture(autouse=True)
def _api(prefect_api: None) -> None:
    return None


@pytest.fixture(scope="module")
def bars(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return planted_bars_file(tmp_path_factory.mktemp("bars") / "aaa.csv")


def _project(root: Path, bars: Path, *, weak: bool, symbol: str = "AAA",
             register: dict[str, Any] | None = None, name: str = "params.yaml") -> Path:
    """A project whose params train a weak (constant) or a real ensemble on ``bars``."""
    sections: dict[str, Any] = {"ingest": file_source(bars, symbol),
                                "register": register or OPEN_GATE}
    if weak:
        sections["train"] = {"members": WEAK_MEMBERS}
    write_project(root, **sections)
    if name != "params.yaml":
        (root / "params.yaml").rename(root / name)
    return root


def _retrain(root: Path, params: str = "params.yaml") -> dict[str, Any]:
    from flows.retrain import retrain

    state = retrain("ensemble", params, str(root), return_state=True)
    assert state.is_completed(), state.message
    registration: dict[str, Any] = state.result()["registration"]
    return registration


def _alias(root: Path, name: str, alias: str) -> str | None:
    version = store.alias_version(RegistryConfig(root=root).connect(), name, alias)
    return str(version.version) if version is not None else None


def _moves(root: Path, name: str) -> list[tuple[str, str | None, str | None, str]]:
    return [(e["alias"], e["from_version"], e["to_version"], e["source"])
            for e in audit_entries(RegistryConfig(root=root), name)]


def test_first_promoted_floor_rejects_better_promoted_rollback_restores_all_audited(
        tmp_path: Path, bars: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "p"
    first = _retrain(_project(root, bars, weak=True))
    name = first["model"]
    assert first["promoted"] and first["previous_champion_version"] is None  # no champion yet
    assert _alias(root, name, "champion") == "1"

    floored = _retrain(_project(root, bars, weak=False,
                                register={"ensemble": {"floor": 0.99}}))
    assert not floored["promoted"] and _alias(root, name, "champion") == "1"
    assert _alias(root, name, "challenger") == floored["version"] == "2"
    tags = RegistryConfig(root=root).connect().get_model_version(name, "2").tags
    assert tags["gate.decision"] == "rejected" and "below the floor 0.9900" in tags["gate.reason"]

    better = _retrain(_project(root, bars, weak=False))
    assert better["promoted"] and better["compared_with"] == "1"
    # The champion was scored afresh on this run's holdout, not read from its old tags.
    assert better["scores"]["ensemble"]["accuracy"] > better["scores"]["champion"]["accuracy"]
    assert (_alias(root, name, "champion"), _alias(root, name, "previous_champion")) == ("3", "1")

    from pipelines.cli import app

    monkeypatch.chdir(root)
    rolled = CliRunner().invoke(app, ["rollback", name, "--reason", "bad fills"])
    assert rolled.exit_code == 0, rolled.output
    assert (_alias(root, name, "champion"), _alias(root, name, "previous_champion")) == ("1", "3")

    assert _moves(root, name) == [
        ("challenger", None, "1", "pipeline"), ("champion", None, "1", "gate"),
        ("challenger", "1", "2", "pipeline"),
        ("challenger", "2", "3", "pipeline"),
        ("previous_champion", None, "1", "gate"), ("champion", "1", "3", "gate"),
        ("previous_champion", "1", "3", "rollback"), ("champion", "3", "1", "rollback")]
    for entry in audit_entries(RegistryConfig(root=root), name):
        assert entry["task"].startswith("ensemble AAA 15m h4") and entry["actor"]
        assert entry["time"] and entry["reason"] and entry["metrics"]


def test_alias_moved_in_mlflow_is_honoured_by_the_next_run_and_audited(
        tmp_path: Path, bars: Path) -> None:
    root = tmp_path / "p"
    first = _retrain(_project(root, bars, weak=False))
    name = first["model"]
    weak = _retrain(_project(root, bars, weak=True))
    assert not weak["promoted"] and _alias(root, name, "champion") == "1"
    # What the MLflow UI does when a person moves the alias.
    RegistryConfig(root=root).connect().set_registered_model_alias(name, "champion", "2")

    again = _retrain(_project(root, bars, weak=True))
    assert again["compared_with"] == "2"  # the registry's champion, not the tool's last record
    assert not again["promoted"] and _alias(root, name, "champion") == "2"  # a tie keeps it
    outside = [e for e in audit_entries(RegistryConfig(root=root), name)
               if e["source"] == "outside"]
    assert [(e["alias"], e["from_version"], e["to_version"]) for e in outside] == [
        ("champion", "1", "2")]
    assert "outside alphaloop" in outside[0]["actor"]


def test_two_tasks_keep_separate_champions(tmp_path: Path, bars: Path) -> None:
    root = tmp_path / "p"
    strong = _retrain(_project(root, bars, weak=False, symbol="AAA"))
    # A worse model of another market is the first of its own task: it never meets AAA's.
    other = _retrain(_project(root, bars, weak=True, symbol="BBB"))
    assert strong["model"] != other["model"]
    assert other["promoted"] and other["compared_with"] is None and other["version"] == "1"
    states = {s.task.symbol: s for s in model_states(RegistryConfig(root=root))}
    assert set(states) == {"AAA", "BBB"}
    assert states["AAA"].aliases["champion"].version == "1"
    assert states["BBB"].aliases["champion"].version == "1"


def test_a_nan_metric_is_refused(tmp_path: Path) -> None:
    # The newest 3.8 days only rise: the holdout (the newest 15% of the 30-day window's
    # labelled rows, ~342) holds one class and its AUC is undefined (NaN).
    rising = planted_bars_file(tmp_path / "rising.csv", rising_bars=365)
    root = _project(tmp_path / "p", rising, weak=False, register={"ensemble": {
        "metric": "auc", "floor": None, "baseline": None, "require_beat_baseline": False}})
    result = _retrain(root)
    assert not result["promoted"] and result["champion_version"] is None
    assert result["reasons"] == ["auc is nan: refused"]
    tags = RegistryConfig(root=root).connect().get_model_version(result["model"], "1").tags
    assert tags["gate.decision"] == "rejected"


def test_interleaved_promotions_end_with_the_better_model(
        tmp_path: Path, bars: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two flow runs decide against the same (empty) champion, then commit after each other."""
    from alphaloop.registry import lifecycle

    root = tmp_path / "p"
    _project(root, bars, weak=True, name="weak.yaml")
    _project(root, bars, weak=False, name="strong.yaml")
    barrier = threading.Barrier(2, timeout=300)
    calls = {"n": 0}
    guard = threading.Lock()
    real_judge = lifecycle.judge

    def judge_then_wait(*args: Any, **kwargs: Any) -> Any:
        decided = real_judge(*args, **kwargs)
        with guard:
            calls["n"] += 1
            first_two = calls["n"] <= 2
        if first_two:  # both runs have decided before either commits
            barrier.wait()
        return decided

    monkeypatch.setattr(lifecycle, "judge", judge_then_wait)
    results: dict[str, dict[str, Any]] = {}

    def run(which: str) -> None:
        results[which] = _retrain(root, f"{which}.yaml")

    threads = [threading.Thread(target=run, args=(w,)) for w in ("weak", "strong")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert set(results) == {"weak", "strong"}, "a flow run failed"
    strong, weak = results["strong"], results["weak"]
    name = strong["model"]
    assert calls["n"] == 3  # the second to commit saw the champion move and decided again
    assert _alias(root, name, "champion") == strong["version"]
    # Whichever committed first, previous_champion is the version the strong one replaced.
    assert _alias(root, name, "previous_champion") == (weak["version"] if weak["promoted"]
                                                       else None)
    champion_moves = [m for m in _moves(root, name) if m[0] == "champion"]
    assert champion_moves[-1][2] == strong["version"]
