"""train -> evaluate -> register on real BTC features, in a scratch project directory.

Small models (few trees, few windows) keep it fast; the MLflow store is the real sqlite one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from alphaloop.config import Params, Settings
from pipelines import evaluate, features, ingest, register, train, validate
from pipelines.common import FEATURES, RAW_BARS, VALIDATED_BARS
from pipelines.registration import promote_by_hand

pytestmark = pytest.mark.integration

SMALL_MEMBERS = {
    "lightgbm": {"n_estimators": 40, "num_leaves": 7, "n_jobs": 2, "verbose": -1},
    "xgboost": {"n_estimators": 40, "max_depth": 3, "n_jobs": 2, "verbosity": 0},
    "catboost": {"iterations": 40, "depth": 3, "thread_count": 2, "verbose": False,
                 "allow_writing_files": False},
}


def small_params(**rule: object) -> Params:
    return Params.model_validate({
        "cv": {"n_splits": 3, "walk_forward_initial": 4000, "walk_forward_step": 2000},
        "train": {"members": SMALL_MEMBERS, "early_stopping_rounds": 10},
        "register": {"ensemble": rule},
    })


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real BTC features written where the stages expect them, in a scratch directory."""
    import os

    root = tmp_path_factory.mktemp("project")
    old = Path.cwd()
    os.chdir(root)
    try:
        params = Params()
        ingest.run(params.ingest, RAW_BARS, None)
        validate.run(params.validate_, validate.load_raw(RAW_BARS), "btc", VALIDATED_BARS,
                     None, None)
        features.run(params.features, VALIDATED_BARS, FEATURES, None, None)
    finally:
        os.chdir(old)
    return root


def test_train_evaluate_register(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    monkeypatch.chdir(project)
    params = small_params(floor=0.53)
    metrics = train.run(params)
    for name in ("lightgbm", "xgboost", "catboost", "ensemble", "majority", "persistence"):
        assert 0.3 < metrics[name]["accuracy"] < 0.7  # out of fold: no leak-inflated scores
    assert Path("models/ensemble").is_dir() and list(Path("models/ensemble_onnx").glob("*.onnx"))
    for plot in ("roc.csv", "calibration.csv", "confusion.csv", "roc.png"):
        assert Path("reports/plots", plot).exists()

    summary = evaluate.run(params)
    assert summary["windows"]["count"] == 3
    # Out of sample only: the first prediction comes after the first training window.
    first_oos = pd.Timestamp(summary["out_of_sample"]["first"])
    bars = pd.read_parquet(FEATURES)
    assert first_oos > bars["timestamp"].iloc[4000 - 1]
    assert summary["buy_and_hold"]["trades"] == 1
    assert Path("reports/plots/equity.csv").exists()

    report = register.run(params, Settings(_env_file=None))  # type: ignore[call-arg]
    client = mlflow.MlflowClient()
    version = client.get_model_version_by_alias("ensemble", "challenger")
    assert str(version.version) == report["version"]
    for tag in ("data_version", "git_commit", "params_hash", "metric.accuracy"):
        assert tag in version.tags
    promoted = metrics["ensemble"]["accuracy"] >= 0.53 and \
        metrics["ensemble"]["accuracy"] > metrics["majority"]["accuracy"]
    assert report["promoted"] is promoted
    model = mlflow.pyfunc.load_model("models:/ensemble@challenger")
    out = model.predict(bars.tail(5))
    assert list(out.columns) == ["p_down", "p_up"]
    assert ((out["p_up"] > 0) & (out["p_up"] < 1)).all()
    saved = json.loads(Path("reports/registry.json").read_text())
    assert saved["lineage"]["data_version"] == version.tags["data_version"]

    # A floor nobody can clear: the new version is challenger and never champion.
    strict = small_params(floor=0.99)
    second = register.run(strict, Settings(_env_file=None))  # type: ignore[call-arg]
    assert not second["promoted"]
    assert any("below the floor" in r for r in second["reasons"])
    champion_before = report["version"] if promoted else None
    assert second["champion_version"] == champion_before

    # A person promotes by hand: recorded as manual in the audit log.
    entries = promote_by_hand(Settings(_env_file=None), "ensemble",  # type: ignore[call-arg]
                                       second["version"], "reviewed the backtest")
    assert entries[-1]["actor"] == "manual" and entries[-1]["to_version"] == second["version"]
    assert str(client.get_model_version_by_alias("ensemble", "champion").version) == \
        second["version"]
    with pytest.raises(ValueError, match="no version"):
        promote_by_hand(Settings(_env_file=None), "ensemble", "99", "x")  # type: ignore[call-arg]
    mlflow.set_tracking_uri(None)


def test_train_regime_registers_beside_its_baselines(project: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    from pipelines import train_regime

    monkeypatch.chdir(project)
    params = Params.model_validate({"regime": {"epochs": 1, "d_model": 16, "num_layers": 1,
                                               "context_length": 32}})
    report = train_regime.run(params, Settings(_env_file=None))  # type: ignore[call-arg]
    metrics = json.loads(Path("reports/regime_metrics.json").read_text())
    for name in ("model", "persistence", "zero", "garch"):
        assert name in metrics
    assert metrics["garch"]["vol_rmse"] > 0 and metrics["model"]["vol_rmse"] > 0
    beats = metrics["model"]["vol_rmse"] < metrics["garch"]["vol_rmse"]
    assert report["promoted"] is beats
    model = mlflow.pyfunc.load_model("models:/regime@challenger")
    closes = pd.read_parquet(VALIDATED_BARS)[["close"]].tail(33).reset_index(drop=True)
    out = model.predict(closes)
    assert out["regime"].iloc[0] in {"bull", "bear", "sideways", "high_vol"}
    assert out["forecast_volatility"].iloc[0] >= 0
    mlflow.set_tracking_uri(None)


def test_train_sentiment_registers_beside_the_lexicon(project: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    import mlflow

    from pipelines import train_sentiment
    from tests.conftest import REPO

    monkeypatch.chdir(project)
    Path("data/text").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "data/text/headlines.csv", "data/text/headlines.csv")
    report = train_sentiment.run(Params(), Settings(_env_file=None))  # type: ignore[call-arg]
    metrics = json.loads(Path("reports/sentiment_metrics.json").read_text())
    assert {"minilm", "lexicon", "majority"} <= set(metrics)
    beats = metrics["minilm"]["macro_f1"] > metrics["lexicon"]["macro_f1"]
    assert report["promoted"] is (beats and metrics["minilm"]["macro_f1"] >= 0.5)
    assert len(report["lineage"]["data_version"]) == 32  # md5 of the git-tracked CSV
    model = mlflow.pyfunc.load_model("models:/sentiment@challenger")
    out = model.predict(pd.DataFrame({"text": ["Exchange hacked, $200M stolen"]}))
    assert out["logit"].iloc[0] < 0 and out["label"].iloc[0] == "negative"
    mlflow.set_tracking_uri(None)
