"""A scikit-learn estimator over the ensemble's fit, for tools that clone and refit models.

The walk-forward backtest clones a model per window and calls ``fit(X, y)`` /
``predict_proba(X)``. Rows are consecutive bars, so each label's end time is its position
plus the horizon; that is what the purged inner validation split needs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from alphaloop.models.config import PredictorConfig
from alphaloop.models.fitting import FittedEnsemble, fit_ensemble
from alphaloop.models.inputs import feature_matrix


class EnsembleClassifier(ClassifierMixin, BaseEstimator):
    """``fit``/``predict_proba`` over :func:`fit_ensemble` (members, combiner, calibrator)."""

    def __init__(self, config: PredictorConfig | None = None, horizon: int = 1) -> None:
        self.config = config
        self.horizon = horizon

    def fit(self, X: pd.DataFrame | np.ndarray, y: Any) -> EnsembleClassifier:
        columns = list(X.columns) if isinstance(X, pd.DataFrame) else \
            [f"f{i}" for i in range(np.asarray(X).shape[1])]
        matrix = feature_matrix(X, columns)
        n = len(matrix)
        t1 = pd.Series(np.arange(n) + self.horizon, index=np.arange(n))
        self.columns_ = columns
        self.classes_ = np.array([0, 1])
        self.fitted_: FittedEnsemble = fit_ensemble(self.config or PredictorConfig(), matrix,
                                                    np.asarray(y, dtype=np.int64), t1)
        return self

    def predict_proba(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        p_up = self.fitted_.predict_proba(feature_matrix(X, self.columns_))
        return np.column_stack([1.0 - p_up, p_up])

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)
