"""The ensemble: out-of-fold evaluation without leakage, persistence, prediction, tuning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from alphaloop.cv import PurgedKFold
from alphaloop.models import EnsemblePredictor, Prediction, TrainReport
from alphaloop.models import members as members_module
from alphaloop.models.members import LightGBMMember, register_member
from tests.unit.models.conftest import N_FEATURES, fast_config, make_labelled

MODELS = ("lightgbm", "xgboost", "catboost", "ensemble", "majority", "persistence")
Trained = tuple[EnsemblePredictor, TrainReport]


def test_oof_metrics_for_every_model(trained: Trained, signal_frame: pd.DataFrame) -> None:
    predictor, report = trained
    assert tuple(report.metrics) == MODELS
    for name in MODELS:
        assert set(report.metrics[name]) >= {"accuracy", "balanced_accuracy", "auc",
                                              "log_loss", "brier"}
        assert report.metrics[name]["n"] == len(signal_frame)
    assert list(report.oof.columns) == ["timestamp", "target", "fold", *MODELS]
    assert (report.oof["fold"] >= 0).all() and report.oof["fold"].nunique() == 5
    assert report.oof[list(MODELS)].notna().all().all()
    assert predictor.feature_columns == [f"f{i}" for i in range(N_FEATURES)]


def test_ensemble_beats_the_baselines_on_planted_signal(trained: Trained) -> None:
    metrics = trained[1].metrics
    assert metrics["ensemble"]["accuracy"] > metrics["majority"]["accuracy"] + 0.1
    assert metrics["ensemble"]["accuracy"] > metrics["persistence"]["accuracy"] + 0.1
    assert metrics["ensemble"]["auc"] > 0.75
    assert metrics["ensemble"]["log_loss"] < metrics["majority"]["log_loss"]


def test_report_details(trained: Trained) -> None:
    _, report = trained
    importance = report.feature_importance
    assert importance["feature"].iloc[0] == "f0"
    assert list(importance.columns) == ["feature", "lightgbm", "xgboost", "catboost", "mean"]
    assert importance[["lightgbm", "xgboost", "catboost"]].sum().to_numpy() == \
        pytest.approx(np.ones(3))
    for rounds in report.best_iterations.values():
        assert list(rounds) == [f"fold_{k}" for k in range(5)] + ["final"]
        assert all(1 <= r <= 50 for r in rounds.values())


def test_pure_noise_stays_at_chance() -> None:
    frame = make_labelled(n=1500, signal=0.0, seed=11)
    report = EnsemblePredictor(fast_config(n_splits=3)).train(frame, horizon=1)
    ensemble = report.metrics["ensemble"]
    assert abs(ensemble["accuracy"] - 0.5) < 0.05
    assert abs(ensemble["auc"] - 0.5) < 0.05


class _Spy(LightGBMMember):
    """Records the row ids (feature ``row_id``) each fit trains and early-stops on."""

    name = "spy"
    calls: ClassVar[list[tuple[set[int], set[int]]]] = []

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray,
            early_stopping_rounds: int) -> _Spy:
        _Spy.calls.append(({int(v) for v in X[:, 0]}, {int(v) for v in X_val[:, 0]}))
        super().fit(X, y, X_val, y_val, early_stopping_rounds)
        return self


@pytest.fixture
def spy() -> Any:
    register_member(_Spy)
    _Spy.calls.clear()
    yield _Spy
    members_module._REGISTRY.pop("spy")


def test_early_stopping_never_sees_the_test_fold(spy: Any) -> None:
    frame = make_labelled(n=800, seed=5, horizon=3)
    frame.insert(frame.columns.get_loc("f0"), "row_id", np.arange(len(frame), dtype=float))
    config = fast_config(members={"spy": {"n_estimators": 20, "n_jobs": 1}}, n_splits=4,
                         embargo=0.02, feature_columns=["row_id", "f0", "f1"])
    report = EnsemblePredictor(config).train(frame, horizon=3)
    assert len(spy.calls) == 4 + 1  # one fit per fold, then the deployed fit
    t1 = frame["t1"].set_axis(pd.Index(frame["timestamp"]))
    splits = list(PurgedKFold(4, t1, 0.02).split(frame))
    for k, ((fit_ids, val_ids), (train, test)) in enumerate(
            zip(spy.calls, splits, strict=False)):
        test_ids = set(report.oof.index[report.oof["fold"] == k])
        assert test_ids == set(test.tolist())
        assert not (fit_ids | val_ids) & test_ids
        assert (fit_ids | val_ids) <= set(train.tolist())
        assert not fit_ids & val_ids
        # The validation slice is the latest part of the training set, purged before it.
        assert max(fit_ids) < min(val_ids)
        assert frame["t1"].iloc[sorted(fit_ids)].max() < frame["timestamp"].iloc[min(val_ids)]
    final_fit, final_val = spy.calls[-1]
    assert max(final_val) == len(frame) - 1 and max(final_fit) < min(final_val)


def test_stacked_and_isotonic(trained_stacked: Trained) -> None:
    predictor, report = trained_stacked
    assert predictor.fitted.combiner.method == "stacked"
    assert predictor.fitted.calibrator.method == "isotonic"
    assert report.metrics["ensemble"]["accuracy"] > report.metrics["majority"]["accuracy"] + 0.1
    assert report.oof["fold"].nunique() == 3
    assert np.isfinite(report.metrics["ensemble"]["log_loss"])


def test_save_load_gives_identical_probabilities(trained: Trained, signal_frame: pd.DataFrame,
                                                 tmp_path: Path) -> None:
    predictor, _ = trained
    predictor.save(tmp_path / "model")
    files = sorted(p.name for p in (tmp_path / "model").iterdir())
    assert files == ["catboost.cbm", "lightgbm.txt", "manifest.json", "xgboost.ubj"]
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["calibrator"]["method"] == "sigmoid" and manifest["horizon"] == 1
    loaded = EnsemblePredictor.load(tmp_path / "model")
    assert loaded.config == predictor.config
    assert loaded.feature_columns == predictor.feature_columns
    rows = signal_frame.iloc[:300]
    np.testing.assert_array_equal(loaded.predict_proba(rows), predictor.predict_proba(rows))


def test_load_rejects_a_foreign_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="manifest"):
        EnsemblePredictor.load(tmp_path)


def test_predict_returns_predictions(trained: Trained, signal_frame: pd.DataFrame) -> None:
    predictor, _ = trained
    rows = signal_frame.iloc[:5]
    proba = predictor.predict_proba(rows)
    assert proba.shape == (5,) and ((proba > 0) & (proba < 1)).all()
    predictions = predictor.predict(rows)
    assert all(isinstance(p, Prediction) for p in predictions)
    for p, up in zip(predictions, proba, strict=True):
        assert p.direction == ("up" if up >= 0.5 else "down")
        assert p.confidence == pytest.approx(max(up, 1 - up))
        assert p.probabilities == pytest.approx({"down": 1 - up, "up": up})
    # The same row as a mapping, a list of mappings or an array in column order.
    row = rows[predictor.feature_columns].iloc[0].to_dict()
    assert predictor.predict(row)[0] == predictions[0]
    assert predictor.predict_proba([row, row]) == pytest.approx([proba[0]] * 2)
    array = rows[predictor.feature_columns].to_numpy()
    np.testing.assert_allclose(predictor.predict_proba(array), proba)


def test_bad_input_names_the_column(trained: Trained, signal_frame: pd.DataFrame) -> None:
    predictor, _ = trained
    rows = signal_frame.iloc[:3]
    with pytest.raises(ValueError, match="missing feature column 'f7'"):
        predictor.predict_proba(rows.drop(columns=["f7"]))
    with pytest.raises(ValueError, match="'f3' is NaN"):
        predictor.predict_proba(rows.assign(f3=[0.1, np.nan, 0.2]))
    with pytest.raises(ValueError, match="'f2' has dtype"):
        predictor.predict_proba(rows.assign(f2=["a", "b", "c"]))
    row = rows[predictor.feature_columns].iloc[0].to_dict()
    with pytest.raises(ValueError, match="'f5' holds 'x'"):
        predictor.predict({**row, "f5": "x"})
    with pytest.raises(ValueError, match="missing feature column 'f0'"):
        predictor.predict({k: v for k, v in row.items() if k != "f0"})
    with pytest.raises(ValueError, match="'f1' is NaN"):
        predictor.predict({**row, "f1": float("inf")})
    with pytest.raises(ValueError, match="shape"):
        predictor.predict_proba(np.zeros((2, 3)))


def test_untrained_predictor() -> None:
    with pytest.raises(RuntimeError, match="not trained"):
        EnsemblePredictor().predict_proba(np.zeros((1, 3)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["t1"]), "missing column"),
        (lambda f: f.assign(target=f["target"] * 2), "binary"),
        (lambda f: f.assign(f4=np.nan), "'f4' is NaN"),
    ],
)
def test_train_rejects_bad_frames(change: Any, message: str) -> None:
    frame = change(make_labelled(n=200, seed=2))
    with pytest.raises(ValueError, match=message):
        EnsemblePredictor(fast_config()).train(frame, horizon=1)


def test_tune_with_three_trials() -> None:
    frame = make_labelled(n=500, seed=8)
    config = fast_config(members={"lightgbm": {"n_estimators": 20, "n_jobs": 1}},
                         n_splits=2, calibration="none")
    best = EnsemblePredictor(config).tune(frame, horizon=1, n_trials=3)
    assert set(best) == {"lightgbm"}
    params = best["lightgbm"]
    assert params["n_estimators"] == 20
    assert 0.01 <= params["learning_rate"] <= 0.2 and 4 <= params["num_leaves"] <= 63
    assert isinstance(params["num_leaves"], int)
    tuned = EnsemblePredictor(config.model_copy(update={"members": best}))
    assert tuned.train(frame, horizon=1).metrics["ensemble"]["accuracy"] > 0.6
