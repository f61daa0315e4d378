"""Combining member probabilities and calibrating the result, as a few JSON-able numbers.

Both maps are fitted on the inner validation slice of a training set (the tail that also
served for early stopping), never on a test fold. They are applied with plain numpy so the
native and the ONNX predictors share them exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

# Probabilities are clipped this far from 0 and 1 before taking log-odds.
EPS = 1e-6
CombineMethod = Literal["weighted", "stacked"]
CalibrationMethod = Literal["none", "sigmoid", "isotonic"]


def logit(proba: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities clipped to ``[EPS, 1 - EPS]``."""
    p = np.clip(proba, EPS, 1.0 - EPS)
    return np.log(p) - np.log1p(-p)


def _check_labels(y: np.ndarray, what: str) -> None:
    if y.size == 0 or np.unique(y).size < 2:
        raise ValueError(f"cannot fit the {what} on a validation slice with fewer than two "
                         f"classes ({y.size} rows); use more data or a larger "
                         "inner_val_fraction")


@dataclass(frozen=True)
class Combiner:
    """Member probabilities ``(n, k)`` -> one probability ``(n,)``.

    Attributes:
        method: ``weighted`` (average with ``coef`` as weights summing to 1) or ``stacked``
            (``expit(intercept + coef . logit(p))``, a logistic-regression meta-learner).
        members: Member names, the column order of the inputs.
        coef: One weight or coefficient per member.
        intercept: Stacker intercept (0 for ``weighted``).
    """

    method: CombineMethod
    members: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float = 0.0

    @classmethod
    def fit(cls, method: CombineMethod, weights: Mapping[str, float], member_proba: np.ndarray,
            y: np.ndarray) -> Combiner:
        """Build the combiner; ``stacked`` fits its coefficients on ``(member_proba, y)``.

        Args:
            method: ``weighted`` or ``stacked``.
            weights: Member -> normalised weight (also fixes the member order).
            member_proba: Member probabilities on the validation slice, one column each.
            y: Labels of the validation slice.
        """
        members = tuple(weights)
        if method == "weighted":
            return cls("weighted", members, tuple(float(weights[m]) for m in members))
        from sklearn.linear_model import LogisticRegression

        _check_labels(y, "stacker")
        # Mild L2 (C=1) keeps the coefficients of near-collinear members bounded.
        model = LogisticRegression(C=1.0, max_iter=1000)
        model.fit(logit(member_proba), y)
        return cls("stacked", members, tuple(float(c) for c in model.coef_[0]),
                   float(model.intercept_[0]))

    def apply(self, member_proba: np.ndarray) -> np.ndarray:
        """Combined probability for each row."""
        coef = np.asarray(self.coef)
        if self.method == "weighted":
            return np.asarray(member_proba @ coef, dtype=np.float64)
        return np.asarray(expit(self.intercept + logit(member_proba) @ coef), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (floats round-trip exactly through ``json``)."""
        return {"method": self.method, "members": list(self.members), "coef": list(self.coef),
                "intercept": self.intercept}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Combiner:
        """Inverse of ``to_dict``."""
        return cls(data["method"], tuple(data["members"]),
                   tuple(float(c) for c in data["coef"]), float(data["intercept"]))


@dataclass(frozen=True)
class Calibrator:
    """A monotone map of the combined probability.

    Attributes:
        method: ``none`` (identity), ``sigmoid`` (Platt scaling on the log-odds:
            ``expit(slope * logit(p) + intercept)``) or ``isotonic`` (piecewise-linear
            through ``knots_x``/``knots_y``, flat outside).
        slope: Platt slope.
        intercept: Platt intercept.
        knots_x: Isotonic thresholds (increasing).
        knots_y: Isotonic values at the thresholds.
    """

    method: CalibrationMethod = "none"
    slope: float = 1.0
    intercept: float = 0.0
    knots_x: tuple[float, ...] = ()
    knots_y: tuple[float, ...] = ()

    @classmethod
    def fit(cls, method: CalibrationMethod, proba: np.ndarray, y: np.ndarray) -> Calibrator:
        """Fit the map on combined probabilities ``proba`` and labels ``y``."""
        if method == "none":
            return cls()
        _check_labels(y, f"{method} calibration")
        if method == "sigmoid":
            slope, intercept = _fit_platt(logit(proba), y)
            return cls("sigmoid", slope=slope, intercept=intercept)
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(proba, y)
        return cls("isotonic", knots_x=tuple(float(v) for v in iso.X_thresholds_),
                   knots_y=tuple(float(v) for v in iso.y_thresholds_))

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, kept inside ``[EPS, 1 - EPS]`` for finite log loss."""
        if self.method == "none":
            return proba
        if self.method == "sigmoid":
            out = expit(self.slope * logit(proba) + self.intercept)
        else:
            out = np.interp(proba, self.knots_x, self.knots_y)
        return np.clip(np.asarray(out, dtype=np.float64), EPS, 1.0 - EPS)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (floats round-trip exactly through ``json``)."""
        return {"method": self.method, "slope": self.slope, "intercept": self.intercept,
                "knots_x": list(self.knots_x), "knots_y": list(self.knots_y)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        """Inverse of ``to_dict``."""
        return cls(data["method"], float(data["slope"]), float(data["intercept"]),
                   _floats(data["knots_x"]), _floats(data["knots_y"]))


def _floats(values: Sequence[Any]) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def _fit_platt(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt's sigmoid fit with his smoothed targets, which keep the slope finite."""
    n_pos = float(y.sum())
    n_neg = float(y.size - n_pos)
    target = np.where(y == 1, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        s = params[0] * z + params[1]
        value = float(np.sum(np.logaddexp(0.0, s) - target * s))
        residual = expit(s) - target
        return value, np.array([residual @ z, residual.sum()])

    result = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    return float(result.x[0]), float(result.x[1])
