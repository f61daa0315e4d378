"""Ensemble members: gradient-boosting classifiers behind one small interface, by name.

Each member wraps a library classifier, fits it with early stopping on a validation slice the
caller provides (the purged inner split of a training set, never a test fold), keeps only the
best iteration and predicts ``P(up)`` through the library's native booster, which skips the
per-call overhead of the scikit-learn wrappers.

The libraries are imported inside the methods so that the configuration (which validates
member names against this registry) stays cheap to import.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from alphaloop.models.hyperparams import (
    catboost_params,
    check_params,
    lightgbm_params,
    xgboost_params,
)

_REGISTRY: dict[str, type[Member]] = {}
# Below this many rows members predict on one thread. The three libraries keep separate
# thread pools whose idle workers spin: calling them one after another with two threads
# each on a small machine costs ~8 ms per ensemble call (vs ~0.6 ms on one thread), while
# a single row has nothing to parallelise and 1,024 rows gain little.
SINGLE_THREAD_ROWS = 5_000
MemberT = TypeVar("MemberT", bound="Member")


def register_member(cls: type[MemberT]) -> type[MemberT]:
    """Class decorator: make a ``Member`` subclass available under its ``name``."""
    _REGISTRY[cls.name] = cls
    return cls


def available_members() -> tuple[str, ...]:
    """Names of the registered members."""
    return tuple(_REGISTRY)


def member_class(name: str) -> type[Member]:
    """The member class registered as ``name``.

    Raises:
        ValueError: If no member has that name.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown member {name!r}; available: {sorted(_REGISTRY)}") from None


def default_params(name: str) -> dict[str, Any]:
    """A copy of the default hyperparameters of member ``name``."""
    return copy.deepcopy(member_class(name).defaults)


def create_member(name: str, params: Mapping[str, Any] | None = None, seed: int = 42) -> Member:
    """An unfitted member: ``params`` override the member's defaults key by key."""
    return member_class(name)(params, seed)


class Member(ABC):
    """A binary classifier trained with early stopping and predicting ``P(up)``.

    Inputs are 2-D float32 arrays (the precision XGBoost, CatBoost and ONNX Runtime work in),
    labels are 0/1.

    Attributes:
        name: Registry name.
        suffix: File suffix of the native model format.
        save_options: Keyword arguments the native ``save_model`` needs.
        defaults: Default hyperparameters (modest and fast).
        seed_keys: Parameter names the library accepts for its seed; the first is set from
            ``seed`` unless the parameters already name one.
        params: Effective hyperparameters.
        best_iteration: Boosting rounds kept after early stopping (a count, not an index).
        model: The native booster, once fitted or loaded.
    """

    name: ClassVar[str]
    suffix: ClassVar[str]
    defaults: ClassVar[dict[str, Any]]
    seed_keys: ClassVar[tuple[str, ...]]
    save_options: ClassVar[dict[str, Any]] = {}  # extra keyword arguments of save_model

    def __init__(self, params: Mapping[str, Any] | None = None, seed: int = 42) -> None:
        check_params(self.name, dict(params or {}), self.accepted_params())
        merged = {**copy.deepcopy(self.defaults), **dict(params or {})}
        if not any(key in merged for key in self.seed_keys):
            merged[self.seed_keys[0]] = seed
        self.params: dict[str, Any] = merged
        self.best_iteration: int = 0
        self.model: Any = None

    @classmethod
    def accepted_params(cls) -> frozenset[str] | None:
        """Every hyperparameter name the library accepts (None: not checked, for plugins)."""
        return None

    @abstractmethod
    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray,
            early_stopping_rounds: int) -> Member:
        """Fit on ``(X, y)``, stop when the log loss on ``(X_val, y_val)`` stops improving."""

    @abstractmethod
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """``P(up)`` for each row, shape ``(n,)``, float64."""

    @abstractmethod
    def feature_importance(self) -> np.ndarray:
        """Non-negative importance per input column (gain or its library's equivalent)."""

    def save(self, path: Path) -> None:
        """Write the fitted model in its native format."""
        self._require_fitted()
        self.model.save_model(str(path), **self.save_options)

    @classmethod
    @abstractmethod
    def load(cls, path: Path, params: Mapping[str, Any] | None = None) -> Member:
        """Read a model written by ``save``; ``params`` restores the effective settings."""

    def _require_fitted(self) -> None:
        if self.model is None:
            raise RuntimeError(f"member {self.name!r} is not fitted")

    def _threads(self, *keys: str) -> int | None:
        for key in keys:
            if self.params.get(key) is not None:
                return int(self.params[key])
        return None

    def _predict_threads(self, n_rows: int, *keys: str) -> int | None:
        """One thread for small batches, else the configured count (None: library default)."""
        return 1 if n_rows < SINGLE_THREAD_ROWS else self._threads(*keys)


def _check_fit_inputs(X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray,
                      early_stopping_rounds: int) -> None:
    if X.ndim != 2 or X_val.ndim != 2 or X.shape[1] != X_val.shape[1]:
        raise ValueError(f"X and X_val must be 2-D with equal columns, got {X.shape}, "
                         f"{X_val.shape}")
    if len(X) != len(y) or len(X_val) != len(y_val):
        raise ValueError("features and labels differ in length")
    if len(X_val) == 0:
        raise ValueError("the validation slice for early stopping is empty")
    if early_stopping_rounds < 1:
        raise ValueError(f"early_stopping_rounds must be >= 1, got {early_stopping_rounds}")


@register_member
class LightGBMMember(Member):
    """``lightgbm.LGBMClassifier``; predicts through the truncated ``Booster``."""

    name = "lightgbm"
    suffix = ".txt"
    seed_keys = ("random_state", "seed")
    defaults: ClassVar[dict[str, Any]] = {
        "n_estimators": 300, "learning_rate": 0.05, "num_leaves": 15, "max_depth": -1,
        "min_child_samples": 50, "subsample": 0.8, "subsample_freq": 1,
        "colsample_bytree": 0.8, "reg_lambda": 1.0, "n_jobs": 2, "verbose": -1,
    }

    @classmethod
    def accepted_params(cls) -> frozenset[str] | None:
        return lightgbm_params()

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray,
            early_stopping_rounds: int) -> LightGBMMember:
        import lightgbm as lgb

        _check_fit_inputs(X, y, X_val, y_val, early_stopping_rounds)
        model = lgb.LGBMClassifier(**self.params)
        model.fit(X, y, eval_X=(X_val,), eval_y=(y_val,), eval_metric="binary_logloss",
                  callbacks=[lgb.early_stopping(early_stopping_rounds, first_metric_only=True,
                                                verbose=False)])
        booster = model.booster_
        self.best_iteration = int(booster.best_iteration or booster.current_iteration())
        # Re-parse only the kept trees: saving, ONNX export and prediction then agree.
        self.model = lgb.Booster(model_str=booster.model_to_string(
            num_iteration=self.best_iteration))
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        self._require_fitted()
        threads = self._predict_threads(len(X), "n_jobs", "num_threads")
        kwargs = {} if threads is None else {"num_threads": threads}
        return np.asarray(self.model.predict(X, **kwargs), dtype=np.float64)

    def feature_importance(self) -> np.ndarray:
        self._require_fitted()
        return np.asarray(self.model.feature_importance(importance_type="gain"), dtype=float)

    @classmethod
    def load(cls, path: Path, params: Mapping[str, Any] | None = None) -> LightGBMMember:
        import lightgbm as lgb

        member = cls(params)
        member.model = lgb.Booster(model_file=str(path))
        member.best_iteration = int(member.model.current_iteration())
        return member


@register_member
class XGBoostMember(Member):
    """``xgboost.XGBClassifier``; predicts with ``Booster.inplace_predict`` on the kept rounds."""

    name = "xgboost"
    suffix = ".ubj"
    seed_keys = ("random_state", "seed")
    defaults: ClassVar[dict[str, Any]] = {
        "n_estimators": 300, "learning_rate": 0.05, "max_depth": 4, "min_child_weight": 5.0,
        "subsample": 0.8, "colsample_bytree": 0.8, "reg_lambda": 1.0, "tree_method": "hist",
        "n_jobs": 2, "verbosity": 0,
    }
    _nthread: int | None = None  # the booster's current nthread, when we set it

    @classmethod
    def accepted_params(cls) -> frozenset[str] | None:
        return xgboost_params()

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray,
            early_stopping_rounds: int) -> XGBoostMember:
        import xgboost as xgb

        _check_fit_inputs(X, y, X_val, y_val, early_stopping_rounds)
        params = {"eval_metric": "logloss", **self.params,
                  "early_stopping_rounds": early_stopping_rounds}
        model = xgb.XGBClassifier(**params)
        model.fit(X, y, eval_set=[(X_val, y_val)], verbose=False)
        self.best_iteration = int(model.best_iteration) + 1
        self.model = model.get_booster()[: self.best_iteration]
        self._nthread = None
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        self._require_fitted()
        threads = self._predict_threads(len(X), "n_jobs", "nthread")
        # nthread is booster state: set it only when it changes (set_param is not free).
        if threads is not None and threads != self._nthread:
            self.model.set_param({"nthread": threads})
            self._nthread = threads
        return np.asarray(self.model.inplace_predict(X, validate_features=False),
                          dtype=np.float64)

    def feature_importance(self) -> np.ndarray:
        self._require_fitted()
        scores = self.model.get_score(importance_type="total_gain")
        out = np.zeros(self.model.num_features())
        for key, value in scores.items():
            out[int(key.removeprefix("f"))] = value
        return out

    @classmethod
    def load(cls, path: Path, params: Mapping[str, Any] | None = None) -> XGBoostMember:
        import xgboost as xgb

        member = cls(params)
        member.model = xgb.Booster(model_file=str(path))
        member.best_iteration = int(member.model.num_boosted_rounds())
        return member


VOLATILE_CATBOOST_METADATA = ("model_guid", "train_finish_time")


@register_member
class CatBoostMember(Member):
    """``catboost.CatBoostClassifier``, shrunk to its best iteration (``use_best_model``)."""

    name = "catboost"
    suffix = ".cbm"
    save_options: ClassVar[dict[str, Any]] = {"format": "cbm"}
    seed_keys = ("random_seed", "random_state")
    defaults: ClassVar[dict[str, Any]] = {
        "iterations": 300, "learning_rate": 0.05, "depth": 4, "l2_leaf_reg": 3.0,
        "rsm": 0.8, "thread_count": 2, "verbose": False, "allow_writing_files": False,
    }

    @classmethod
    def accepted_params(cls) -> frozenset[str] | None:
        return catboost_params()

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray,
            early_stopping_rounds: int) -> CatBoostMember:
        import catboost as cb

        _check_fit_inputs(X, y, X_val, y_val, early_stopping_rounds)
        model = cb.CatBoostClassifier(**self.params)
        model.fit(X, y, eval_set=(X_val, y_val), early_stopping_rounds=early_stopping_rounds,
                  use_best_model=True)
        # A random guid and the wall-clock finish time are the only bytes that differ between
        # two identical fits: dropped, the saved .cbm (and its ONNX export) are reproducible.
        metadata = model.get_metadata()
        for key in VOLATILE_CATBOOST_METADATA:
            if key in metadata:
                del metadata[key]
        self.model = model
        self.best_iteration = int(model.tree_count_)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        self._require_fitted()
        threads = self._predict_threads(len(X), "thread_count") or -1
        if len(X) == 1:
            # A 1-D row takes CatBoost's single-object path: about half the overhead.
            proba = self.model.predict(X[0], prediction_type="Probability", thread_count=1)
            return np.asarray(proba[1:], dtype=np.float64)
        proba = self.model.predict(X, prediction_type="Probability", thread_count=threads)
        return np.asarray(proba[:, 1], dtype=np.float64)

    def feature_importance(self) -> np.ndarray:
        self._require_fitted()
        return np.asarray(self.model.get_feature_importance(), dtype=float)

    @classmethod
    def load(cls, path: Path, params: Mapping[str, Any] | None = None) -> CatBoostMember:
        import catboost as cb

        member = cls(params)
        member.model = cb.CatBoostClassifier().load_model(str(path), format="cbm")
        member.best_iteration = int(member.model.tree_count_)
        return member

