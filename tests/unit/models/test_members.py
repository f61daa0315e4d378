"""Member registry, per-member early stopping and native persistence; the config's checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from alphaloop.models import PredictorConfig, available_members, create_member, default_params
from alphaloop.models import members as members_module
from alphaloop.models.members import LightGBMMember, member_class, register_member

NAMES = ("lightgbm", "xgboost", "catboost")
SMALL = {"lightgbm": {"n_estimators": 60, "n_jobs": 1},
         "xgboost": {"n_estimators": 60, "n_jobs": 1},
         "catboost": {"iterations": 60, "thread_count": 1}}


def _data(signal: float, n: int = 1200, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8)).astype(np.float32)
    y = (signal * X[:, 0] + rng.normal(size=n) > 0).astype(np.int64)
    return X, y


def _roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def test_registry_has_the_three_libraries() -> None:
    assert set(NAMES) <= set(available_members())
    with pytest.raises(ValueError, match="unknown member 'svm'"):
        member_class("svm")


def test_params_override_defaults_and_seed_is_injected() -> None:
    member = create_member("lightgbm", {"num_leaves": 7}, seed=3)
    assert member.params["num_leaves"] == 7
    assert member.params["n_estimators"] == default_params("lightgbm")["n_estimators"]
    assert member.params["random_state"] == 3
    # A seed the caller set under a library alias wins and is not duplicated.
    assert "random_state" not in create_member("lightgbm", {"seed": 5}).params
    assert create_member("catboost", seed=9).params["random_seed"] == 9


def test_defaults_are_small_and_use_at_most_two_threads() -> None:
    for name, key in (("lightgbm", "n_jobs"), ("xgboost", "n_jobs"),
                      ("catboost", "thread_count")):
        params = default_params(name)
        assert params[key] <= 2
        assert params.get("n_estimators", params.get("iterations")) <= 500


@pytest.mark.parametrize("name", NAMES)
def test_member_learns_and_keeps_best_iteration(name: str) -> None:
    X, y = _data(signal=1.5)
    member = create_member(name, SMALL[name]).fit(X[:800], y[:800], X[800:1000], y[800:1000],
                                                  early_stopping_rounds=10)
    proba = member.predict_proba(X[1000:])
    assert proba.shape == (200,) and proba.dtype == np.float64
    assert ((proba > 0) & (proba < 1)).all()
    assert _roc_auc(y[1000:], proba) > 0.75
    assert 1 <= member.best_iteration <= 60
    importance = member.feature_importance()
    assert importance.shape == (8,) and importance.argmax() == 0


@pytest.mark.parametrize("name", NAMES)
def test_early_stopping_truncates_on_noise(name: str) -> None:
    X, y = _data(signal=0.0)
    params = {**SMALL[name], "learning_rate": 0.3}
    member = create_member(name, params).fit(X[:800], y[:800], X[800:], y[800:],
                                             early_stopping_rounds=5)
    assert member.best_iteration < 60
    rounds = {"lightgbm": lambda m: m.model.num_trees(),
              "xgboost": lambda m: m.model.num_boosted_rounds(),
              "catboost": lambda m: m.model.tree_count_}[name](member)
    assert rounds == member.best_iteration


@pytest.mark.parametrize("name", NAMES)
def test_native_save_load_round_trip(name: str, tmp_path: Path) -> None:
    X, y = _data(signal=1.0)
    member = create_member(name, SMALL[name]).fit(X[:900], y[:900], X[900:], y[900:], 10)
    path = tmp_path / f"{name}{member.suffix}"
    member.save(path)
    loaded = member_class(name).load(path, member.params)
    np.testing.assert_array_equal(loaded.predict_proba(X), member.predict_proba(X))
    assert loaded.best_iteration == member.best_iteration


@pytest.mark.parametrize("name", NAMES)
def test_thread_count_and_batch_size_do_not_change_predictions(name: str) -> None:
    X, y = _data(signal=1.0)
    threads = {"thread_count": 2} if name == "catboost" else {"n_jobs": 2}
    member = create_member(name, {**SMALL[name], **threads})
    member.fit(X[:900], y[:900], X[900:], y[900:], 10)
    rows = np.random.default_rng(2).normal(size=(members_module.SINGLE_THREAD_ROWS, 8))
    rows = rows.astype(np.float32)
    whole = member.predict_proba(rows)  # big enough for the configured two threads
    np.testing.assert_array_equal(whole[:300], member.predict_proba(rows[:300]))
    np.testing.assert_array_equal(whole[:1], member.predict_proba(rows[:1]))


def test_fit_rejects_an_empty_validation_slice() -> None:
    X, y = _data(signal=1.0)
    with pytest.raises(ValueError, match="validation slice"):
        create_member("lightgbm").fit(X, y, X[:0], y[:0], 10)


def test_unfitted_member_refuses_to_predict() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        create_member("xgboost").predict_proba(np.zeros((1, 3), dtype=np.float32))


def test_plugin_members_register_by_name() -> None:
    @register_member
    class Tiny(LightGBMMember):
        name = "tiny_lgbm"

    try:
        config = PredictorConfig(members={"tiny_lgbm": {"n_estimators": 5}})
        assert isinstance(create_member("tiny_lgbm", config.members["tiny_lgbm"]), Tiny)
    finally:
        members_module._REGISTRY.pop("tiny_lgbm")


def test_config_defaults() -> None:
    config = PredictorConfig()
    assert list(config.members) == list(NAMES)
    assert config.combine == "weighted" and config.calibration == "sigmoid"
    assert config.member_weights() == pytest.approx(dict.fromkeys(NAMES, 1 / 3))
    with pytest.raises(ValidationError):
        config.seed = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"members": {}}, "at least one member"),
        ({"members": {"svm": {}}}, "unknown member"),
        ({"weights": {"lightgbm": 1.0}}, "exactly the members"),
        ({"weights": {"lightgbm": -1.0, "xgboost": 1.0, "catboost": 1.0}}, "non-negative"),
        ({"combine": "vote"}, "combine"),
        ({"calibration": "beta"}, "calibration"),
        ({"n_splits": 1}, "n_splits"),
        ({"inner_val_fraction": 1.0}, "inner_val_fraction"),
        ({"embargo": 2.5}, "whole"),
        ({"feature_columns": ["a", "a"]}, "duplicate"),
        ({"learning_rate": 0.1}, "Extra inputs"),
    ],
)
def test_config_rejects_bad_values(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PredictorConfig(**settings)  # type: ignore[arg-type]


def test_config_weights_are_normalised() -> None:
    config = PredictorConfig(weights={"lightgbm": 2.0, "xgboost": 1.0, "catboost": 1.0})
    assert config.member_weights() == pytest.approx(
        {"lightgbm": 0.5, "xgboost": 0.25, "catboost": 0.25})


@pytest.mark.parametrize("name", NAMES)
def test_two_identical_fits_save_byte_identical_files(name: str, tmp_path: Path) -> None:
    # DVC hashes the model folder: an unchanged model must hash the same (CatBoost writes a
    # random guid and the finish time unless they are dropped).
    X, y = _data(signal=1.0)
    saved = []
    for run in ("a", "b"):
        member = create_member(name, SMALL[name]).fit(X[:900], y[:900], X[900:], y[900:], 10)
        path = tmp_path / f"{run}{member.suffix}"
        member.save(path)
        saved.append(path.read_bytes())
    assert saved[0] == saved[1]


@pytest.mark.parametrize(("name", "typo", "meant"), [
    ("lightgbm", "num_leavs", "num_leaves"),
    ("xgboost", "max_dept", "max_depth"),
    ("catboost", "l2_leaf_regg", "l2_leaf_reg"),
])
def test_a_misspelt_hyperparameter_is_an_error_naming_the_key(name: str, typo: str,
                                                              meant: str) -> None:
    # LightGBM and XGBoost would train with their default and only warn.
    with pytest.raises(ValueError, match=rf"train\.members\.{name}: unknown {name} parameter "
                                         rf"'{typo}' \(did you mean '{meant}'"):
        create_member(name, {typo: 3})


@pytest.mark.parametrize("name", NAMES)
def test_every_default_and_library_alias_is_accepted(name: str) -> None:
    aliases = {"lightgbm": {"num_leaf": 7, "bagging_fraction": 0.9, "min_data_in_leaf": 5},
               "xgboost": {"eta": 0.1, "max_bin": 64, "grow_policy": "lossguide"},
               "catboost": {"border_count": 32, "bootstrap_type": "Bernoulli"}}[name]
    member = create_member(name, {**default_params(name), **aliases, **SMALL[name]})
    X, y = _data(signal=1.0, n=400)
    member.fit(X[:300], y[:300], X[300:], y[300:], 5)  # the library takes them all
