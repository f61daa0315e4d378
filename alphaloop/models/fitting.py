"""The leakage-safe training procedure: one fitted ensemble per training set, and OOF runs.

``fit_ensemble`` is the unit that is both evaluated and deployed. Given one training set it
splits off a purged tail (``inner_validation_split``), fits every member on the head with
early stopping on the tail, then fits the combiner (weights or the stacking meta-learner)
and the calibrator on the members' predictions for that same tail. ``out_of_fold`` runs it
once per purged k-fold training part and predicts the held-out fold, so every OOF
probability — members, ensemble and baselines — comes from a procedure that never saw the
test fold, not even for early stopping, stacking or calibration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alphaloop import progress
from alphaloop.cv import PurgedKFold, inner_validation_split, resolve_embargo
from alphaloop.models.combine import Calibrator, Combiner
from alphaloop.models.config import PredictorConfig
from alphaloop.models.inputs import feature_matrix
from alphaloop.models.members import Member, create_member
from alphaloop.models.metrics import baseline_predictions

BASELINES: tuple[str, ...] = ("majority", "persistence")
ENSEMBLE = "ensemble"


@dataclass
class FittedEnsemble:
    """Fitted members plus the combiner and calibrator fitted on their validation output.

    Attributes:
        members: Member name -> fitted member, in combination order.
        combiner: Member probabilities -> one probability.
        calibrator: Map applied to the combined probability.
        fit_rows: Positions (within the training set) the members were fitted on.
        val_rows: Positions used for early stopping, combining and calibration.
    """

    members: dict[str, Member]
    combiner: Combiner
    calibrator: Calibrator
    fit_rows: np.ndarray = field(repr=False)
    val_rows: np.ndarray = field(repr=False)

    def member_proba(self, X: np.ndarray) -> np.ndarray:
        """``P(up)`` of each member, shape ``(n, n_members)``."""
        return np.column_stack([m.predict_proba(X) for m in self.members.values()])

    def finish(self, member_proba: np.ndarray) -> np.ndarray:
        """Combine and calibrate member probabilities."""
        return self.calibrator.apply(self.combiner.apply(member_proba))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated ensemble ``P(up)``, shape ``(n,)``."""
        return self.finish(self.member_proba(X))


def fit_ensemble(config: PredictorConfig, X: np.ndarray, y: np.ndarray,
                 t1: pd.Series) -> FittedEnsemble:
    """Fit members, combiner and calibrator on one training set.

    Args:
        config: Predictor configuration.
        X: Float32 features of the training set, rows in time order.
        y: Its 0/1 labels.
        t1: Its label end times (index: start times), aligned by position.
    """
    n = len(X)
    fit_rows, val_rows = inner_validation_split(
        n, t1, config.inner_val_fraction, resolve_embargo(config.embargo, n))
    X_fit, y_fit, X_val, y_val = X[fit_rows], y[fit_rows], X[val_rows], y[val_rows]
    if np.unique(y_fit).size < 2:
        raise ValueError(f"the fitting part of a training set ({y_fit.size} rows) holds a "
                         "single class")
    members = {
        name: create_member(name, params, config.seed).fit(
            X_fit, y_fit, X_val, y_val, config.early_stopping_rounds)
        for name, params in config.members.items()
    }
    val_proba = np.column_stack([m.predict_proba(X_val) for m in members.values()])
    combiner = Combiner.fit(config.combine, config.member_weights(), val_proba, y_val)
    calibrator = Calibrator.fit(config.calibration, combiner.apply(val_proba), y_val)
    return FittedEnsemble(members, combiner, calibrator, fit_rows, val_rows)


@dataclass
class OutOfFold:
    """Out-of-fold predictions of one purged k-fold run.

    Attributes:
        proba: One column per member, ``ensemble`` and each baseline; NaN on rows that
            were in no test fold.
        fold: Test fold of each row (-1: none).
        best_iterations: Member -> kept boosting rounds per fold.
    """

    proba: pd.DataFrame
    fold: np.ndarray
    best_iterations: dict[str, list[int]]


def out_of_fold(config: PredictorConfig, X: np.ndarray, y: np.ndarray, t1: pd.Series,
                signal: np.ndarray | None = None) -> OutOfFold:
    """Predict every row from an ensemble fitted without its purged k-fold test fold.

    Args:
        config: Predictor configuration (``n_splits``, ``embargo`` drive the k-fold).
        X: Float32 features, rows in time order.
        y: 0/1 labels.
        t1: Label end times (index: start times), aligned by position.
        signal: ``persistence_signal`` per row; None skips the baselines.
    """
    names = [*config.members, ENSEMBLE, *(BASELINES if signal is not None else ())]
    proba = np.full((len(X), len(names)), np.nan)
    fold_of = np.full(len(X), -1)
    best: dict[str, list[int]] = {name: [] for name in config.members}
    n_members = len(config.members)
    splitter = PurgedKFold(config.n_splits, t1, config.embargo)
    progress.report("purged CV folds", 0, config.n_splits)
    for k, (train, test) in enumerate(splitter.split(X)):
        fitted = fit_ensemble(config, X[train], y[train], t1.iloc[train])
        member_proba = fitted.member_proba(X[test])
        proba[test, :n_members] = member_proba
        proba[test, n_members] = fitted.finish(member_proba)
        if signal is not None:
            baselines = baseline_predictions(y[train], signal[train], signal[test])
            for j, name in enumerate(BASELINES):
                proba[test, n_members + 1 + j] = baselines[name]
        fold_of[test] = k
        for name, member in fitted.members.items():
            best[name].append(member.best_iteration)
        progress.report("purged CV folds", k + 1, config.n_splits)
    return OutOfFold(pd.DataFrame(proba, columns=names), fold_of, best)


def training_arrays(df: pd.DataFrame,
                    columns: list[str]) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """Features, labels and the purging series ``t1`` (index: timestamps) of ``df``.

    Raises:
        ValueError: On missing columns, a non-binary or gappy target, missing ``t1`` or
            bad features.
    """
    if not columns:
        raise ValueError("no feature columns: df has no float columns besides bar/label ones")
    missing = [c for c in ("timestamp", "target", "t1", "close") if c not in df.columns]
    if missing:
        raise ValueError(f"df is missing column(s) {missing}; build it with prepare_target")
    target = df["target"]
    if target.isna().any() or not target.isin([0, 1]).all():
        raise ValueError("column 'target' must be binary 0/1 without gaps (use "
                         "neutral='drop'; a three-class target is not supported)")
    if df["t1"].isna().any():
        raise ValueError("column 't1' has missing label end times")
    X = feature_matrix(df, columns)
    t1 = pd.Series(df["t1"].to_numpy(), index=pd.Index(df["timestamp"]), name="t1")
    return X, target.to_numpy(dtype=np.int64), t1
