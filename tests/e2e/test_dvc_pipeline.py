"""The README's pipeline on a copy of the project: `dvc repro`, no-op rerun, dag, params."""

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
           "PYTHONPATH": str(cwd), "COLUMNS": "200"}
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
    for name in ("dvc.yaml", ".dvcignore"):
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
                 "reports/registry.json", "models/regime/model.onnx",
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
    for stage in ("ingest", "validate", "features", "train", "evaluate", "register",
                  "train_regime", "train_sentiment"):
        assert stage in dag


def test_metrics_show_reads_the_reports(project: Path) -> None:
    shown = _run(project, "dvc", "metrics", "show").stdout
    for report in ("validation.json", "features.json", "train_metrics.json",
                   "backtest_metrics.json"):
        assert f"reports/{report}" in shown
    assert "ensemble.accuracy" in shown and "majority.accuracy" in shown


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
        # CatBoost's .cbm carries non-model bytes that differ run to run: compared by output.
        return {p.name: hashlib.md5(p.read_bytes()).hexdigest()
                for p in sorted(folder.iterdir()) if p.suffix in (".txt", ".json", ".ubj")}

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
