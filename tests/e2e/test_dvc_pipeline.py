"""The README's pipeline on a copy of the project: `dvc repro`, no-op rerun, dag, params; the
research loop on it: a cost change re-runs only the backtest, `dvc metrics diff`, `dvc exp`,
and a git clone that `dvc pull`s is up to date and re-runs its stages byte for byte."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


def _run(cwd: Path, *cmd: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(cwd), "COLUMNS": "200", "GIT_AUTHOR_NAME": "test",
           "GIT_AUTHOR_EMAIL": "test@example.com", "GIT_COMMITTER_NAME": "test",
           "GIT_COMMITTER_EMAIL": "test@example.com"}
    result = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh git + DVC checkout of the project's pipeline files, reproduced once."""
    root = tmp_path_factory.mktemp("project")
    for name in ("alphaloop", "pipelines", "data/text"):
        shutil.copytree(REPO / name, root / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", ".dvcignore", ".gitignore"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, root / name)
    # The real params with small models: this test is about the pipeline, not model quality.
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["cv"].update(n_splits=3, walk_forward_initial=4000, walk_forward_step=2000)
    params["train"]["early_stopping_rounds"] = 10
    for member in params["train"]["members"].values():
        member.update({"n_estimators": 40} if "n_estimators" in member else {"iterations": 40})
    params["regime"].update(epochs=1, d_model=16, num_layers=1, context_length=32)
    # The flow trains on every bar too, so it sees exactly what `dvc repro` saw.
    params["retrain"].update(training_window_days=None, models=["ensemble"])
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / ".dvc").mkdir()
    shutil.copy(REPO / ".dvc" / "config", root / ".dvc" / "config")
    shutil.copy(REPO / ".dvc" / ".gitignore", root / ".dvc" / ".gitignore")
    _run(root, "git", "init", "-q")
    _run(root, "dvc", "repro")
    return root


def test_repro_writes_every_stage_output(project: Path) -> None:
    for path in ("data/raw/bars.parquet", "data/validated/bars.parquet",
                 "data/features/features.parquet", "reports/data_docs/index.html",
                 "models/ensemble/manifest.json", "reports/backtest_metrics.json",
                 "reports/registry.json", "reports/registered/ensemble.json",
                 "models/regime/model.onnx",
                 "reports/regime_registry.json", "models/sentiment/manifest.json"):
        assert (project / path).exists(), path
    features = json.loads((project / "reports/features.json").read_text())
    assert features["n_features"] >= 200
    summary = _run(project, sys.executable, "-m", "pipelines.cli", "summary")
    assert "duplicate timestamps" in summary.stdout
    assert "data/features/features.parquet" in summary.stdout
    assert "majority" in summary.stdout and "buy and hold" in summary.stdout
    assert re.search(r"Registry: ensemble\.BTC-USD\.15m\.h4\.\w+ v1 is the challenger",
                     summary.stdout)


def test_second_repro_changes_nothing(project: Path) -> None:
    result = _run(project, "dvc", "repro")
    assert "Data and pipelines are up to date" in result.stdout
    status = _run(project, "dvc", "status", "--json")
    assert json.loads(status.stdout) == {}


def test_dag_shows_the_stages(project: Path) -> None:
    dag = _run(project, "dvc", "dag").stdout
    for stage in ("ingest", "validate", "features", "train", "walk_forward", "backtest",
                  "register",
                  "train_regime", "train_sentiment"):
        assert stage in dag


def test_metrics_show_prints_the_headline_numbers(project: Path) -> None:
    shown = json.loads(_run(project, "dvc", "metrics", "show", "--json").stdout)
    metrics = {path: data["data"] for path, data in shown[""]["data"].items()}
    assert set(metrics) == {f"reports/metrics/{name}.json"
                            for name in ("train", "backtest", "regime", "sentiment")}
    train = metrics["reports/metrics/train.json"]
    backtest = metrics["reports/metrics/backtest.json"]
    assert set(train) == {"oof", "holdout"} and "majority_accuracy" in train["holdout"]
    assert {"strategy", "buy_and_hold", "costs_bps"} <= set(backtest)
    columns = sum(len(_leaves(m)) for m in metrics.values())
    assert columns <= 30  # a few headline numbers; the details stay in reports/*.json


def test_changing_a_feature_param_invalidates_only_features(project: Path) -> None:
    params_path = project / "params.yaml"
    original = params_path.read_text()
    params = yaml.safe_load(original)
    params["features"]["rsi_periods"] = [*params["features"]["rsi_periods"], 50]
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        status = json.loads(_run(project, "dvc", "status", "--json").stdout)
    finally:
        params_path.write_text(original)
    assert set(status) == {"features"}


def test_flow_run_and_dvc_repro_give_the_same_model_and_metrics(project: Path) -> None:
    import hashlib

    run = _run(project, sys.executable, "-m", "pipelines.cli", "retrain", "run", "--model",
               "ensemble")
    assert "ensemble.BTC-USD.15m.h4." in run.stdout and " v2:" in run.stdout
    train = json.loads((project / "reports/train_metrics.json").read_text())
    workspaces = sorted((project / ".alphaloop/runs/ensemble/default").iterdir())
    flow_train = json.loads((workspaces[-1] / "reports/train_metrics.json").read_text())
    # "run" is the DVC run's provenance (what it read, when it finished): not a result.
    train.pop("run", None)
    flow_train.pop("run", None)
    assert flow_train == train  # every OOF and holdout metric, and the data window

    def digest(folder: Path) -> dict[str, str]:
        # Every model file, CatBoost's .cbm included (its random guid and time are dropped).
        return {p.name: hashlib.md5(p.read_bytes()).hexdigest()
                for p in sorted(folder.iterdir())
                if p.suffix in (".txt", ".json", ".ubj", ".cbm")}

    dvc_model, flow_model = project / "models/ensemble", workspaces[-1] / "models/ensemble"
    assert digest(dvc_model).keys() == digest(flow_model).keys()
    for name in digest(dvc_model):
        if name != "manifest.json":  # holds library versions only beside the same config
            assert digest(dvc_model)[name] == digest(flow_model)[name], name
    assert json.loads((dvc_model / "manifest.json").read_text()) == \
        json.loads((flow_model / "manifest.json").read_text())
    import numpy as np
    import pandas as pd

    from alphaloop.models.ensemble import EnsemblePredictor

    feats = pd.read_parquet(project / "data/features/features.parquet")
    a = EnsemblePredictor.load(dvc_model).member_proba(feats)
    b = EnsemblePredictor.load(flow_model).member_proba(feats)
    assert np.array_equal(a, b)  # every member, CatBoost included, predicts identically


def _leaves(tree: dict[str, object]) -> list[object]:
    return [leaf for value in tree.values()
            for leaf in (_leaves(value) if isinstance(value, dict) else [value])]


def _stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '(\w+)'", output))


@pytest.fixture(scope="module")
def committed(project: Path) -> Path:
    """The reproduced project committed to git, as a user shares it."""
    _run(project, "dvc", "repro")  # the flow test above may have left stale reports
    _run(project, "git", "add", "-A")
    _run(project, "git", "commit", "-qm", "pipeline run")
    assert _run(project, "git", "status", "--porcelain").stdout == ""
    return project


def test_a_cost_change_reruns_only_the_backtest(committed: Path) -> None:
    params = yaml.safe_load((committed / "params.yaml").read_text())
    params["backtest"].update(costs="custom", fee_bps=30.0, slippage_bps=5.0)
    (committed / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        assert set(json.loads(_run(committed, "dvc", "status", "--json").stdout)) == \
            {"backtest"}
        output = _run(committed, "dvc", "repro").stdout
        assert _stages_run(output) == {"backtest"}  # no retraining, no new registry version
        for stage in ("train", "walk_forward", "register", "train_regime"):
            assert f"Stage '{stage}' didn't change, skipping" in output
        diff = json.loads(_run(committed, "dvc", "metrics", "diff", "--json").stdout)
        changed = diff["reports/metrics/backtest.json"]
        assert changed["costs_bps"] == {"old": 15.0, "new": 35.0, "diff": 20.0}
        assert changed["strategy.total_return"]["new"] < changed["strategy.total_return"]["old"]
        assert "reports/metrics/train.json" not in diff  # the model did not change
    finally:
        _run(committed, "git", "checkout", "--", ".")
        _run(committed, "dvc", "checkout")
    assert json.loads(_run(committed, "dvc", "status", "--json").stdout) == {}


def test_an_experiment_runs_and_is_listed(committed: Path) -> None:
    import csv
    import io

    try:
        output = _run(committed, "dvc", "exp", "run", "-n", "fee-40", "-S",
                      "backtest.costs=custom", "-S", "backtest.fee_bps=40", "-S",
                      "backtest.slippage_bps=5").stdout
        assert _stages_run(output) == {"backtest"}
        shown = _run(committed, "dvc", "exp", "show", "--csv").stdout
    finally:  # the experiment's results stay in the workspace: back to the commit
        _run(committed, "git", "checkout", "--", ".")
        _run(committed, "dvc", "checkout")
    rows = list(csv.DictReader(io.StringIO(shown)))
    (experiment,) = [r for r in rows if r["Experiment"] == "fee-40"]
    assert float(experiment["backtest.fee_bps"]) == 40.0
    assert float(experiment["costs_bps"]) == 45.0
    (baseline,) = [r for r in rows if r["typ"] == "baseline" and r["rev"] != "workspace"]
    assert float(baseline["backtest.fee_bps"]) == 10.0 and float(baseline["costs_bps"]) == 15.0
    assert float(experiment["strategy.total_return"]) < float(baseline["strategy.total_return"])
    assert "!" not in experiment.values() and "!" not in baseline.values()


def test_a_clone_after_dvc_pull_is_current_and_rebuilds_byte_for_byte(
        committed: Path, tmp_path: Path) -> None:
    _run(committed, "dvc", "remote", "add", "-d", "store", str(tmp_path / "remote"))
    _run(committed, "dvc", "push")
    _run(committed, "git", "commit", "-qam", "a DVC remote")
    clone = tmp_path / "clone"
    _run(tmp_path, "git", "clone", "-q", str(committed), str(clone))
    # The committed reports answer at once, before any data is pulled.
    shown = json.loads(_run(clone, "dvc", "metrics", "show", "--json").stdout)
    assert "reports/metrics/backtest.json" in shown[""]["data"]
    _run(clone, "dvc", "pull")
    assert json.loads(_run(clone, "dvc", "status", "--json").stdout) == {}
    summary = _run(clone, sys.executable, "-m", "pipelines.cli", "summary").stdout
    assert "9 of 9 stage reports from this run" in summary  # pulled, so current
    assert "registered by another run" in summary  # the registry is not in DVC
    # Re-run stages from scratch in this other directory: the same bytes, a clean tree.
    _run(clone, "dvc", "repro", "--force", "--single-item", "validate", "train", "backtest")
    assert _run(clone, "git", "status", "--porcelain").stdout == ""
    assert json.loads(_run(clone, "dvc", "status", "--json").stdout) == {}
