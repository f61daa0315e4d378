"""Hyperparameter search with Optuna under the same purged out-of-fold procedure as training.

Each trial draws parameters for every member that has a search space, runs
``out_of_fold`` (purged k-fold, inner early stopping, stacking and calibration inside each
training part) and scores the ensemble's out-of-fold log loss. Trials are seeded, so a
search on the same data repeats.

A search scored on the folds it is then judged on flatters itself. :func:`nested_tune`
therefore tunes inside each outer purged fold's training part only and scores the winner on
that outer test fold, which no trial ever saw: the honest estimate of what tuning gains,
beside the configured parameters on the very same folds (``alphaloop tune``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alphaloop import progress
from alphaloop.cv import PurgedKFold
from alphaloop.models.config import PredictorConfig
from alphaloop.models.fitting import ENSEMBLE, fit_ensemble, out_of_fold, training_arrays
from alphaloop.models.inputs import default_feature_columns
from alphaloop.models.metrics import classification_metrics

Space = Callable[[Any], dict[str, Any]]


def _lightgbm_space(trial: Any) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("lightgbm.learning_rate", 0.01, 0.2, log=True),
        "num_leaves": trial.suggest_int("lightgbm.num_leaves", 4, 63, log=True),
        "min_child_samples": trial.suggest_int("lightgbm.min_child_samples", 10, 200, log=True),
        "subsample": trial.suggest_float("lightgbm.subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("lightgbm.colsample_bytree", 0.3, 1.0),
        "reg_lambda": trial.suggest_float("lightgbm.reg_lambda", 1e-3, 10.0, log=True),
    }


def _xgboost_space(trial: Any) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("xgboost.learning_rate", 0.01, 0.2, log=True),
        "max_depth": trial.suggest_int("xgboost.max_depth", 2, 8),
        "min_child_weight": trial.suggest_float("xgboost.min_child_weight", 1.0, 50.0,
                                                log=True),
        "subsample": trial.suggest_float("xgboost.subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("xgboost.colsample_bytree", 0.3, 1.0),
        "reg_lambda": trial.suggest_float("xgboost.reg_lambda", 1e-3, 10.0, log=True),
    }


def _catboost_space(trial: Any) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("catboost.learning_rate", 0.01, 0.2, log=True),
        "depth": trial.suggest_int("catboost.depth", 2, 8),
        "l2_leaf_reg": trial.suggest_float("catboost.l2_leaf_reg", 0.1, 30.0, log=True),
        "rsm": trial.suggest_float("catboost.rsm", 0.3, 1.0),
    }


SEARCH_SPACES: dict[str, Space] = {
    "lightgbm": _lightgbm_space,
    "xgboost": _xgboost_space,
    "catboost": _catboost_space,
}


def tune(config: PredictorConfig, df: pd.DataFrame, n_trials: int = 20,
         timeout: float | None = None) -> dict[str, dict[str, Any]]:
    """Minimise the ensemble's purged out-of-fold log loss over member hyperparameters.

    Args:
        config: Starting configuration; drawn values override its member parameters and
            everything else (folds, calibration, combination) is kept.
        df: Labelled rows as for ``EnsemblePredictor.train``.
        n_trials: Optuna trials (TPE sampler seeded with ``config.seed``).
        timeout: Optional wall-clock limit in seconds.

    Returns:
        The best ``members`` mapping, ready for ``PredictorConfig(members=...)``.
    """
    import optuna

    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    columns = list(config.feature_columns or default_feature_columns(df))
    X, y, t1 = training_arrays(df, columns)

    def candidate(trial: Any) -> dict[str, dict[str, Any]]:
        return {name: {**params, **SEARCH_SPACES[name](trial)} if name in SEARCH_SPACES
                else dict(params) for name, params in config.members.items()}

    def objective(trial: Any) -> float:
        trial_config = config.model_copy(update={"members": candidate(trial)})
        result = out_of_fold(trial_config, X, y, t1)
        scored = result.fold >= 0
        proba = result.proba[ENSEMBLE].to_numpy()[scored]
        return classification_metrics(y[scored], proba)["log_loss"]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize",
                                sampler=optuna.samplers.TPESampler(seed=config.seed))
    study.optimize(objective, n_trials=n_trials, timeout=timeout, callbacks=[
        lambda study, trial: progress.report("tuning trials", trial.number + 1, n_trials)])
    best = optuna.trial.FixedTrial(study.best_params)
    return {name: _plain(params) for name, params in candidate(best).items()}


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    """Numpy scalars to Python numbers, so the result dumps to YAML/JSON."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()}


@dataclass(frozen=True)
class OuterFold:
    """One outer purged fold: what tuning on its training part chose, scored on its test part.

    ``tuned_log_loss`` and ``default_log_loss`` are the ensemble's log loss on the outer test
    fold with the tuned and with the configured members, both fitted on the same training
    part; no trial saw the test fold.
    """

    fold: int
    test_rows: int
    members: dict[str, dict[str, Any]]
    tuned_log_loss: float
    default_log_loss: float


@dataclass(frozen=True)
class NestedTuning:
    """Nested purged-CV estimate of tuning, and the members tuned on all rows."""

    folds: list[OuterFold]
    tuned_log_loss: float  # pooled over every outer test row
    default_log_loss: float
    members: dict[str, dict[str, Any]]  # tuned on every training row: what to deploy


def nested_tune(config: PredictorConfig, df: pd.DataFrame, n_trials: int = 20,
                timeout: float | None = None) -> NestedTuning:
    """Tune inside each outer purged fold; score on its test fold; then tune on all rows.

    Args:
        config: The configured predictor (folds, embargo, members and their defaults).
        df: Labelled training rows (the gate's holdout already cut off).
        n_trials: Optuna trials per search (``config.n_splits + 1`` searches).
        timeout: Optional wall-clock limit per search, in seconds.
    """
    columns = list(config.feature_columns or default_feature_columns(df))
    X, y, t1 = training_arrays(df, columns)
    outer = PurgedKFold(config.n_splits, t1, config.embargo)
    folds: list[OuterFold] = []
    scored: list[int] = []
    tuned_p, default_p = np.full(len(y), np.nan), np.full(len(y), np.nan)
    for k, (train, test) in enumerate(outer.split(X)):
        progress.report("tuning: outer folds", k, config.n_splits)
        members = tune(config, df.iloc[train], n_trials, timeout)  # never sees `test`
        tuned = config.model_copy(update={"members": members})
        for cfg, out in ((tuned, tuned_p), (config, default_p)):
            out[test] = fit_ensemble(cfg, X[train], y[train], t1.iloc[train]).predict_proba(
                X[test])
        folds.append(OuterFold(k, len(test), members, _log_loss(y[test], tuned_p[test]),
                               _log_loss(y[test], default_p[test])))
        scored.extend(test)
    progress.report("tuning: outer folds", config.n_splits, config.n_splits)
    rows = np.asarray(scored)
    return NestedTuning(folds, _log_loss(y[rows], tuned_p[rows]),
                        _log_loss(y[rows], default_p[rows]),
                        tune(config, df, n_trials, timeout))


def _log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    return float(classification_metrics(y, proba)["log_loss"])

