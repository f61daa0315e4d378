"""The ensemble predictor: purged out-of-fold evaluation, a deployable fit, native save/load.

Design (see ``alphaloop.models.fitting``):

- **Evaluation**: purged k-fold over the labelled rows (``t1`` drives the purge). In each
  fold the whole procedure runs on the training part only: members are fitted on its purged
  head with early stopping on its tail (``inner_validation_split``); the combiner (fixed
  weights, or the logistic-regression stacker) and the calibrator are fitted on the members'
  predictions for that tail. The test fold is then predicted once. Every reported metric is
  computed on these out-of-fold predictions, baselines included. The tail also chose the
  best iteration, so stacking and calibration see very slightly optimistic member
  probabilities; the test fold never contributes to any of it.
- **Deployment**: the same procedure on all rows (head for the members, the most recent
  tail for early stopping, stacking and calibration), so what is deployed is exactly what
  was evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from alphaloop.models.combine import Calibrator, Combiner
from alphaloop.models.config import PredictorConfig
from alphaloop.models.fitting import (
    ENSEMBLE,
    FittedEnsemble,
    fit_ensemble,
    out_of_fold,
    training_arrays,
)
from alphaloop.models.inputs import Rows, default_feature_columns, feature_matrix
from alphaloop.models.members import member_class
from alphaloop.models.metrics import classification_metrics, persistence_signal

MANIFEST = "manifest.json"
FORMAT = "alphaloop-ensemble"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Prediction:
    """One row's forecast.

    Attributes:
        direction: ``up`` when ``P(up) >= 0.5``, else ``down``.
        confidence: The larger of the two class probabilities.
        probabilities: ``{"down": 1 - P(up), "up": P(up)}``.
    """

    direction: Literal["up", "down"]
    confidence: float
    probabilities: dict[str, float]


@dataclass(frozen=True)
class TrainReport:
    """What ``EnsemblePredictor.train`` measured.

    Attributes:
        metrics: Model (each member, ``ensemble``, ``majority``, ``persistence``) ->
            ``classification_metrics`` on its out-of-fold predictions.
        oof: ``timestamp``, ``target``, ``fold`` and one ``P(up)`` column per model.
        feature_importance: ``feature``, one normalised importance column per member of the
            deployed fit and their ``mean``, sorted by ``mean`` descending.
        best_iterations: Member -> ``{"fold_0": rounds, ..., "final": rounds}``.
    """

    metrics: dict[str, dict[str, float]]
    oof: pd.DataFrame
    feature_importance: pd.DataFrame
    best_iterations: dict[str, dict[str, int]]


class EnsemblePredictor:
    """Gradient-boosting ensemble predicting ``P(up)`` of the next ``horizon``-bar move.

    Args:
        config: Members, combination, calibration and validation settings.
    """

    def __init__(self, config: PredictorConfig | None = None) -> None:
        self.config = config or PredictorConfig()
        self.horizon: int | None = None
        self._columns: list[str] | None = None
        self._fitted: FittedEnsemble | None = None

    @property
    def feature_columns(self) -> list[str]:
        """Input columns, in model order (known once trained or loaded)."""
        if self._columns is None:
            raise RuntimeError("the predictor is not trained: call train() or load()")
        return list(self._columns)

    @property
    def fitted(self) -> FittedEnsemble:
        """The deployed members, combiner and calibrator."""
        if self._fitted is None:
            raise RuntimeError("the predictor is not trained: call train() or load()")
        return self._fitted

    def train(self, df: pd.DataFrame, horizon: int) -> TrainReport:
        """Evaluate out of fold under purged k-fold, then fit the deployable ensemble.

        Args:
            df: Labelled rows in time order (``prepare_target`` output): the feature columns,
                ``target`` (0/1), ``t1``, ``timestamp`` and ``close``.
            horizon: Label horizon in bars (for the persistence baseline and the manifest).

        Returns:
            Out-of-fold metrics, predictions, feature importance and best iterations.

        Raises:
            ValueError: On a bad horizon, missing columns, non-binary or missing labels, bad
                features or too few rows to split.
        """
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
        columns = list(self.config.feature_columns or default_feature_columns(df))
        X, y, t1 = training_arrays(df, columns)
        result = out_of_fold(self.config, X, y, t1, persistence_signal(df, horizon))
        fitted = fit_ensemble(self.config, X, y, t1)
        self._columns, self._fitted, self.horizon = columns, fitted, horizon

        scored = result.fold >= 0
        metrics = {name: classification_metrics(y[scored], result.proba[name].to_numpy()[scored])
                   for name in result.proba.columns}
        oof = pd.concat([pd.DataFrame({"timestamp": df["timestamp"].to_numpy(), "target": y,
                                       "fold": result.fold}), result.proba], axis=1)
        best = {name: {**{f"fold_{k}": it for k, it in enumerate(rounds)},
                       "final": fitted.members[name].best_iteration}
                for name, rounds in result.best_iterations.items()}
        return TrainReport(metrics, oof, self._importance(), best)

    def _importance(self) -> pd.DataFrame:
        table = pd.DataFrame({"feature": self.feature_columns})
        for name, member in self.fitted.members.items():
            gain = member.feature_importance()
            table[name] = gain / gain.sum() if gain.sum() > 0 else gain
        table["mean"] = table[list(self.fitted.members)].mean(axis=1)
        return table.sort_values("mean", ascending=False, kind="stable").reset_index(drop=True)

    def tune(self, df: pd.DataFrame, horizon: int, n_trials: int = 20,
             timeout: float | None = None) -> dict[str, dict[str, Any]]:
        """Search member hyperparameters with Optuna; objective: OOF ensemble log loss.

        See ``alphaloop.models.tuning.tune``; ``horizon`` is accepted for symmetry with
        ``train`` (log loss needs no baseline). The predictor itself is left unchanged, so
        train a new one with ``config.model_copy(update={"members": best})``.
        """
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        from alphaloop.models.tuning import tune

        return tune(self.config, df, n_trials=n_trials, timeout=timeout)

    def member_proba(self, X: Rows) -> np.ndarray:
        """Each member's ``P(up)``, shape ``(n, n_members)`` (columns in member order)."""
        return self.fitted.member_proba(feature_matrix(X, self.feature_columns))

    def predict_proba(self, X: Rows) -> np.ndarray:
        """Calibrated ensemble ``P(up)``, shape ``(n,)``.

        Args:
            X: A DataFrame with the feature columns, an array in ``feature_columns`` order,
                or mapping(s) of column -> value.

        Raises:
            ValueError: Naming a missing, non-numeric or non-finite feature column.
        """
        return self.fitted.predict_proba(feature_matrix(X, self.feature_columns))

    def predict(self, rows: Rows) -> list[Prediction]:
        """One ``Prediction`` per row (same inputs and errors as ``predict_proba``)."""
        return [_prediction(float(p)) for p in self.predict_proba(rows)]

    def save(self, path: Path) -> None:
        """Write a directory: one native model file per member and ``manifest.json``."""
        fitted = self.fitted
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        members = {}
        for name, member in fitted.members.items():
            file = f"{name}{member.suffix}"
            member.save(path / file)
            members[name] = {"file": file, "best_iteration": member.best_iteration,
                             "params": member.params}
        (path / MANIFEST).write_text(json.dumps(self.manifest(members), indent=2))

    def manifest(self, members: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Everything but the member models: config, columns, combiner, calibrator."""
        fitted = self.fitted
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "horizon": self.horizon,
            "config": self.config.model_dump(mode="json"),
            "feature_columns": self.feature_columns,
            "members": dict(members or {}),
            "combiner": fitted.combiner.to_dict(),
            "calibrator": fitted.calibrator.to_dict(),
            "libraries": _library_versions(),
        }

    @classmethod
    def load(cls, path: Path) -> EnsemblePredictor:
        """Read a directory written by ``save``.

        Raises:
            ValueError: If the manifest is missing or not an alphaloop ensemble.
        """
        path = Path(path)
        manifest = read_manifest(path)
        predictor = cls(PredictorConfig.model_validate(manifest["config"]))
        members = {
            name: member_class(name).load(path / entry["file"], entry["params"])
            for name, entry in manifest["members"].items()
        }
        predictor._fitted = FittedEnsemble(
            members, Combiner.from_dict(manifest["combiner"]),
            Calibrator.from_dict(manifest["calibrator"]), np.array([]), np.array([]))
        predictor._columns = list(manifest["feature_columns"])
        predictor.horizon = manifest["horizon"]
        return predictor


def read_manifest(path: Path) -> dict[str, Any]:
    """The ``manifest.json`` of a saved ensemble directory, checked."""
    file = Path(path) / MANIFEST
    if not file.exists():
        raise ValueError(f"{path}: no {MANIFEST}; not a saved ensemble")
    manifest: dict[str, Any] = json.loads(file.read_text())
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{file}: not an {FORMAT} v{FORMAT_VERSION} manifest")
    return manifest


def _prediction(p_up: float) -> Prediction:
    direction: Literal["up", "down"] = "up" if p_up >= 0.5 else "down"
    return Prediction(direction, max(p_up, 1.0 - p_up), {"down": 1.0 - p_up, "up": p_up})


def _library_versions() -> dict[str, str]:
    versions = {}
    for package in ("lightgbm", "xgboost", "catboost", "scikit-learn", "numpy"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


__all__ = ["ENSEMBLE", "EnsemblePredictor", "Prediction", "TrainReport", "read_manifest"]
