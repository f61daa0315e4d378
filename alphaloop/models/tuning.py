"""Hyperparameter search with Optuna under the same purged out-of-fold procedure as training.

Each trial draws parameters for every member that has a search space, runs
``out_of_fold`` (purged k-fold, inner early stopping, stacking and calibration inside each
training part) and scores the ensemble's out-of-fold log loss. Trials are seeded, so a
search on the same data repeats.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from alphaloop.models.config import PredictorConfig
from alphaloop.models.fitting import ENSEMBLE, out_of_fold, training_arrays
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
    study.optimize(objective, n_trials=n_trials, timeout=timeout)
    best = optuna.trial.FixedTrial(study.best_params)
    return {name: _plain(params) for name, params in candidate(best).items()}


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    """Numpy scalars to Python numbers, so the result dumps to YAML/JSON."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()}
