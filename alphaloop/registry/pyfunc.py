"""The ensemble as an MLflow pyfunc: a DataFrame of features in, class probabilities out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

ARTIFACT_KEY = "ensemble"


class EnsemblePyfunc(PythonModel):
    """Loads the saved ensemble directory logged as an artifact and returns probabilities."""

    def load_context(self, context: Any) -> None:
        from alphaloop.models.ensemble import EnsemblePredictor

        self.predictor = EnsemblePredictor.load(Path(context.artifacts[ARTIFACT_KEY]))

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        return probability_frame(self.predictor.predict_proba(model_input))


def probability_frame(proba_up: np.ndarray) -> pd.DataFrame:
    """The pyfunc's output layout: one column per class."""
    proba_up = np.asarray(proba_up, dtype=float)
    return pd.DataFrame({"p_down": 1.0 - proba_up, "p_up": proba_up})
