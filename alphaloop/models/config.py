"""Configuration of the ensemble predictor (the ``train:`` section of params.yaml).

This module stays import-light (pydantic only) so that loading ``params.yaml`` does not pull
in the gradient-boosting libraries.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alphaloop.models.members import available_members, default_params


def _default_members() -> dict[str, dict[str, Any]]:
    return {name: default_params(name) for name in ("lightgbm", "xgboost", "catboost")}


class PredictorConfig(BaseModel):
    """How the ensemble is trained, combined, calibrated and evaluated.

    Attributes:
        members: Member name (``lightgbm``, ``xgboost``, ``catboost`` or any registered
            plugin) -> hyperparameters passed through to the library's classifier. Keys given
            here override that member's defaults one by one (see
            ``alphaloop.models.members.default_params``).
        combine: ``weighted``: weighted average of member probabilities; ``stacked``: a
            logistic-regression meta-learner on the members' log-odds.
        weights: Member -> non-negative weight for ``weighted``; None means equal weights.
        calibration: Map fitted on the inner validation slice and applied to the combined
            probability (never fitted on a test fold).
        early_stopping_rounds: Rounds without improvement of the validation log loss.
        inner_val_fraction: Tail share of each training set used for early stopping,
            calibration and stacking.
        n_splits: Folds of the purged k-fold that produces the out-of-fold predictions.
        embargo: Embargo of the purged k-fold and the inner split (< 1: fraction of the
            samples, >= 1: number of bars).
        seed: Seed given to every member that does not set its own.
        feature_columns: Model inputs; None selects every float column that is not a bar or
            label column.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    members: dict[str, dict[str, Any]] = Field(default_factory=_default_members)
    combine: Literal["weighted", "stacked"] = "weighted"
    weights: dict[str, float] | None = None
    calibration: Literal["none", "sigmoid", "isotonic"] = "sigmoid"
    early_stopping_rounds: int = Field(default=50, ge=1)
    inner_val_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    n_splits: int = Field(default=5, ge=2)
    embargo: float = Field(default=0.01, ge=0.0, allow_inf_nan=False)
    seed: int = 42
    feature_columns: list[str] | None = None

    @field_validator("members")
    @classmethod
    def _check_members(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        if not value:
            raise ValueError("at least one member is required")
        known = available_members()
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(f"unknown member(s) {unknown}; available: {sorted(known)}")
        return value

    @field_validator("embargo")
    @classmethod
    def _check_embargo(cls, value: float) -> float:
        if value >= 1 and value != int(value):
            raise ValueError(f"an embargo >= 1 counts bars and must be whole, got {value}")
        return value

    @field_validator("feature_columns")
    @classmethod
    def _check_features(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value:
                raise ValueError("feature_columns must not be empty (use null for all)")
            dupes = sorted({c for c in value if value.count(c) > 1})
            if dupes:
                raise ValueError(f"duplicate feature columns {dupes}")
        return value

    @model_validator(mode="after")
    def _check_weights(self) -> PredictorConfig:
        if self.weights is None:
            return self
        if set(self.weights) != set(self.members):
            raise ValueError(
                f"weights must name exactly the members {sorted(self.members)}, "
                f"got {sorted(self.weights)}"
            )
        values = list(self.weights.values())
        if any(not math.isfinite(w) or w < 0 for w in values) or sum(values) <= 0:
            raise ValueError("weights must be finite, non-negative and not all zero")
        return self

    def member_weights(self) -> dict[str, float]:
        """Normalised weights (summing to 1) in member order."""
        raw = self.weights or dict.fromkeys(self.members, 1.0)
        total = sum(raw[name] for name in self.members)
        return {name: raw[name] / total for name in self.members}
