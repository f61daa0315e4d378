"""train -> walk-forward -> backtest -> register on real BTC features, in a scratch workspace.

Small models (few trees, few windows) keep it fast; the MLflow store is the real sqlite one.
Each model's run is read back through ``MlflowClient``: its input dataset, every param that
shaped it, ``params.yaml``/``dvc.lock`` and its plots.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from alphaloop.config import Params
from alphaloop.labels import prepare_target
from alphaloop.registry import store
from alphaloop.registry.lifecycle import RegistryConfig
from alphaloop.registry.manual import RegistryError, promote_by_hand
from alphaloop.stages import data, ensemble, regime, sentiment
from alphaloop.stages.evaluate import backtest, record_backtest
from alphaloop.stages.register import register_ensemble
from alphaloop.stages.walk_forward import walk_forward
from alphaloop.workspace import Workspace, file_md5
from tests.conftest import REPO

pytestmark = pytest.mark.integration

SMALL_MEMBERS = {
    "lightgbm": {"n_estimators": 40, "num_leaves": 7, "n_jobs": 2, "verbose": -1},
    "xgboost": {"n_estimators": 40, "max_depth": 3, "n_jobs": 2, "verbosity": 0},
    "catboost": {"iterations": 40, "depth": 3, "thread_count": 2, "verbose": False,
                 "allow_writing_files": False},
}


def small_params(**rule: object) -> Params:
    return Params.model_validate({
        "cv": {"n_splits": 3, "walk_forward_initial": 1500, "walk_forward_step": 1500},
        "train": {"members": SMALL_MEMBERS, "early_stopping_rounds": 10},
        "register": {"ensemble": rule},
    })


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, pd.DataFrame]:
    """Real BTC bars and features written into a scratch workspace."""
    ws = Workspace(tmp_path_factory.mktemp("project"))
    params = Params()
    raw = data.ingest(params.ingest, ws).frame
    bars, _ = data.validate(params.validate_, raw, "btc", ws, docs=False)
    data.features(params.features, bars, ws)
    return ws, bars


@pytest.fixture
def registry(tmp_path: Path):  # type: ignore[no-untyped-def]
    import mlflow

    # The project files every run carries (lineage/): the real ones.
    for name in ("params.yaml", "dvc.lock"):
        shutil.copy(REPO / name, tmp_path / name)
    yield RegistryConfig(root=tmp_path)
    mlflow.set_tracking_uri(None)


def logged_run(run_id: str) -> tuple[Any, set[str]]:
    """A run and the paths of every artifact it holds."""
    import mlflow

    client = mlflow.MlflowClient()

    def walk(path: str | None) -> set[str]:
        found = set()
        for item in client.list_artifacts(run_id, path):
            found |= walk(item.path) if item.is_dir else {item.path}
        return found

    return client.get_run(run_id), walk(None)


def assert_lineage(run: Any, artifacts: set[str], digest: str, plots: tuple[str, ...],
                   params: tuple[str, ...]) -> None:
    """The run's input dataset, params, project files and pictures."""
    (used,) = run.inputs.dataset_inputs
    assert used.dataset.digest == digest
    tags = {t.key: t.value for t in used.tags}
    assert tags["data_version"] == digest and tags["mlflow.data.context"] == "training"
    for key in params:
        assert key in run.data.params, key
    assert {"lineage/params.yaml", "lineage/dvc.lock"} <= artifacts
    assert {f"plots/{name}" for name in plots} <= artifacts


def test_train_evaluate_register(project, registry: RegistryConfig) -> None:  # type: ignore[no-untyped-def]
    import mlflow

    ws, _ = project
    params = small_params(floor=0.53)
    feats = pd.read_parquet(ws.features)
    result = ensemble.train(params, feats, ws)
    metrics = result.metrics
    for name in ("lightgbm", "xgboost", "catboost", "ensemble", "majority", "persistence"):
        assert 0.3 < metrics[name]["accuracy"] < 0.7  # out of fold: no leak-inflated scores
    held = metrics["holdout"]
    assert set(held) == {"ensemble", "majority", "persistence"}
    # The holdout is the newest 15% of labelled rows; training labels all end before it.
    assert result.split.train_end < result.split.holdout["timestamp"].iloc[0]
    labelled = prepare_target(feats, 4, 0.0, "drop")
    assert len(result.split.holdout) == int(0.15 * len(labelled))
    assert result.split.holdout["timestamp"].iloc[-1] == labelled["timestamp"].iloc[-1]
    assert ws.model_dir("ensemble").is_dir()
    assert list(ws.model_dir("ensemble_onnx").glob("*.onnx"))
    for plot in ("roc.csv", "calibration.csv", "confusion.csv", "roc.png", "confusion.png",
                 "importance.png"):
        assert (ws.plots / plot).exists()

    outcome = backtest(params, feats, walk_forward(params, feats, ws), ws)
    summary = outcome.summary
    assert summary["windows"]["count"] == 3
    first_oos = pd.Timestamp(summary["out_of_sample"]["first"])
    assert first_oos > feats["timestamp"].iloc[1500 - 1]
    assert summary["buy_and_hold"]["trades"] == 1
    assert (ws.plots / "equity.csv").exists()
    sheet = ws.tear_sheet.read_text()
    assert "Buy and hold" in sheet and sheet.count("data:image/png;base64,") == 3

    # The backtest's own run: strategy and buy-and-hold, the tear sheet, the recipe.
    run, artifacts = logged_run(record_backtest(params, feats, outcome, ws, registry))
    assert run.info.run_name.startswith("backtest BTC-USD 15m h4 | data to 2021-12-29")
    for key in ("strategy.total_return", "buy_and_hold.total_return", "buy_and_hold.sharpe",
                "strategy_cost_aware.total_return"):
        assert key in run.data.metrics, key
    assert run.data.metrics["buy_and_hold.total_return"] == \
        pytest.approx(summary["buy_and_hold"]["total_return"])
    assert "tear_sheet/tear_sheet.html" in artifacts
    assert_lineage(run, artifacts, file_md5(ws.walk_forward_predictions), ("equity.png",),
                   ("backtest.fee_bps", "risk.vol_window", "train.members.lightgbm.num_leaves"))
    (traded,) = run.inputs.dataset_inputs
    assert {t.key: t.value for t in traded.tags}["features_version"] == file_md5(ws.features)

    report = register_ensemble(params, feats, result.predictor, ws, registry,
                               backtest=summary, oof_metrics=metrics)
    client = mlflow.MlflowClient()
    assert report.name.startswith("ensemble.BTC-USD.15m.h4.")
    version = client.get_model_version_by_alias(report.name, "challenger")
    assert str(version.version) == report.version
    for tag in ("data_version", "git_commit", "params_hash", "metric.accuracy", "train_end",
                "holdout_start", "task.symbol", "model_hash"):
        assert tag in version.tags
    run, artifacts = logged_run(report.run_id)
    assert run.info.run_name.startswith("ensemble BTC-USD 15m h4 | data to 2021-12-29")
    assert_lineage(run, artifacts, file_md5(ws.features),
                   ("roc.png", "calibration.png", "confusion.png", "importance.png"),
                   ("ingest.source.kind", "ingest.source.dataset", "validate.max_null_share",
                    "validate.session", "features.rsi_periods", "target.horizon",
                    "cv.holdout", "train.members.lightgbm.num_leaves",
                    "register.ensemble.floor", "register.ensemble.baseline"))
    (used,) = run.inputs.dataset_inputs
    source = {t.key: t.value for t in used.tags}
    assert source["source"] == "bundled:btc-usd-15m" and source["symbol"] == "BTC-USD"
    assert source["timeframe"] == "15m" and source["raw_data_version"] == file_md5(ws.raw_bars)
    assert run.data.metrics["backtest.buy_and_hold.total_return"] == \
        pytest.approx(summary["buy_and_hold"]["total_return"])
    # The gate's numbers are the holdout's, recomputed from the registered model's inputs.
    assert report.scores["ensemble"]["accuracy"] == pytest.approx(held["ensemble"]["accuracy"],
                                                                  abs=1e-6)
    promoted = held["ensemble"]["accuracy"] >= 0.53 and \
        held["ensemble"]["accuracy"] > held["majority"]["accuracy"]
    assert report.promoted is promoted
    model = mlflow.pyfunc.load_model(f"models:/{report.name}@challenger")
    out = model.predict(feats.tail(5))
    assert list(out.columns) == ["p_down", "p_up"]
    assert ((out["p_up"] > 0) & (out["p_up"] < 1)).all()
    saved = json.loads(ws.report("registry").read_text())
    assert saved["version"] == report.version

    # The same model on the same data again (a DVC re-run): no new version.
    again = register_ensemble(params, feats, result.predictor, ws, registry,
                              reuse_identical=True)
    assert again.version == report.version and again.run_id == report.run_id
    assert "unchanged" in again.reasons[0]
    assert len(client.search_model_versions(f"name='{report.name}'")) == 1

    # A floor nobody can clear: the new version is challenger and never champion.
    second = register_ensemble(small_params(floor=0.99), feats, result.predictor, ws, registry)
    assert not second.promoted
    assert any("below the floor" in r for r in second.reasons)
    assert second.champion_version == (report.version if promoted else None)
    # The gate is part of the params and of their hash.
    tags = client.get_model_version(report.name, second.version).tags
    assert tags["params_hash"] != version.tags["params_hash"]

    # A person promotes by hand: recorded as manual in the audit log.
    entries = promote_by_hand(registry, "ensemble", second.version, "reviewed the backtest")
    assert entries[-1]["source"] == "manual" and entries[-1]["to_version"] == second.version
    champion = store.alias_version(client, report.name, "champion")
    assert str(champion.version) == second.version
    with pytest.raises(RegistryError, match="no version"):
        promote_by_hand(registry, "ensemble", "99", "x")


def test_train_regime_registers_beside_its_baselines(project, registry: RegistryConfig) -> None:  # type: ignore[no-untyped-def]
    import mlflow

    ws, bars = project
    params = Params.model_validate({"regime": {"epochs": 1, "d_model": 16, "num_layers": 1,
                                               "context_length": 32}})
    result = regime.train(params, bars, ws)
    metrics = json.loads(ws.report("regime_metrics").read_text())
    for name in ("model", "persistence", "zero", "garch"):
        assert name in metrics
    assert metrics["garch"]["vol_rmse"] > 0 and metrics["model"]["vol_rmse"] > 0
    report = regime.register_regime(params, bars, result, ws, registry)
    # The gate re-scores the model on the same held-out windows the training report used.
    assert report.scores["model"]["vol_rmse"] == pytest.approx(metrics["model"]["vol_rmse"],
                                                               rel=1e-5)
    assert report.promoted is (metrics["model"]["vol_rmse"] < metrics["garch"]["vol_rmse"])
    run, artifacts = logged_run(report.run_id)
    assert run.info.run_name.startswith("regime BTC-USD 15m h4 | data to 2021-12-29")
    assert_lineage(run, artifacts, file_md5(ws.validated_bars), ("regime_forecast.png",),
                   ("ingest.source.dataset", "validate.session", "regime.context_length",
                    "register.regime.baseline"))
    model = mlflow.pyfunc.load_model(f"models:/{report.name}@challenger")
    closes = bars[["close"]].tail(33).reset_index(drop=True)
    out = model.predict(closes)
    assert out["regime"].iloc[0] in {"bull", "bear", "sideways", "high_vol"}
    assert out["forecast_volatility"].iloc[0] >= 0


def test_train_sentiment_registers_beside_the_lexicon(project, registry: RegistryConfig) -> None:  # type: ignore[no-untyped-def]
    import mlflow

    from alphaloop.models.sentiment import load_headlines

    ws, _ = project
    path = ws.root / "data/text/headlines.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "data/text/headlines.csv", path)
    params, frame = Params(), load_headlines(path)
    result = sentiment.train(params, frame, ws)
    metrics = json.loads(ws.report("sentiment_metrics").read_text())
    assert {"minilm", "lexicon", "majority"} <= set(metrics)
    report = sentiment.register_sentiment(params, frame, path, result, ws, registry)
    assert report.scores["minilm"]["macro_f1"] == pytest.approx(metrics["minilm"]["macro_f1"],
                                                                abs=1e-6)
    beats = metrics["minilm"]["macro_f1"] > metrics["lexicon"]["macro_f1"]
    assert report.promoted is (beats and metrics["minilm"]["macro_f1"] >= 0.5)
    version = mlflow.MlflowClient().get_model_version(report.name, report.version)
    assert len(version.tags["data_version"]) == 32  # md5 of the git-tracked CSV
    run, artifacts = logged_run(report.run_id)
    assert run.info.run_name.startswith("sentiment news text h0 | ")
    assert_lineage(run, artifacts, version.tags["data_version"], ("sentiment_confusion.png",),
                   ("sentiment.backend", "sentiment.head_C", "register.sentiment.floor"))
    model = mlflow.pyfunc.load_model(f"models:/{report.name}@challenger")
    out = model.predict(pd.DataFrame({"text": ["Exchange hacked, $200M stolen"]}))
    assert out["logit"].iloc[0] < 0 and out["label"].iloc[0] == "negative"
