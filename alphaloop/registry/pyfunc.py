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


class RegimePyfunc(PythonModel):
    """Closes in (a ``close`` column, oldest first), one forecast and regime label out."""

    def load_context(self, context: Any) -> None:
        from alphaloop.models.regime import RegimeForecaster

        self.forecaster = RegimeForecaster.load(Path(context.artifacts["regime"]))

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        return regime_frame(self.forecaster, model_input["close"].to_numpy(dtype=float))


def regime_frame(forecaster: Any, closes: np.ndarray) -> pd.DataFrame:
    """The regime pyfunc's output layout."""
    value, vol = forecaster.forecast_both(closes)
    return pd.DataFrame({"forecast_return": [value], "forecast_volatility": [vol],
                         "regime": [forecaster.classify_regime(value, vol)]})


class SentimentPyfunc(PythonModel):
    """Texts in (a ``text`` column), one row out per text: logit, label, class probabilities."""

    def load_context(self, context: Any) -> None:
        from alphaloop.models.sentiment import SentimentModel

        self.model = SentimentModel.load(Path(context.artifacts["sentiment"]))

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        return sentiment_frame(self.model, model_input["text"].astype(str).tolist())


def sentiment_frame(model: Any, texts: list[str]) -> pd.DataFrame:
    """The sentiment pyfunc's output layout."""
    rows = model.predict(texts)
    return pd.DataFrame([{"logit": r["logit"], "label": r["label"],
                          **{f"p_{k}": v for k, v in r["probabilities"].items()}} for r in rows])
