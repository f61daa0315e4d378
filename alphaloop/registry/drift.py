"""Feature drift (PSI against the training window's profile) and early-retrain triggers.

A profile keeps, per feature, quantile bin edges of the training window and the share of rows
in each bin (plus the share of non-finite values), so drift can be measured later without the
training data. PSI = sum over bins of (a - e) * ln(a / e), shares floored at ``eps``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field


def _shares(values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, float]:
    """Shares of finite values per bin (outer bins open-ended) and the non-finite share."""
    finite = np.isfinite(values)
    n = max(values.size, 1)
    counts = np.bincount(np.searchsorted(edges, values[finite], side="right"),
                         minlength=edges.size + 1)
    return counts / n, float((~finite).sum() / n)


def feature_profile(frame: pd.DataFrame, columns: Sequence[str], bins: int = 10
                    ) -> dict[str, Any]:
    """Per-column bin edges and shares of the training window (JSON-serialisable)."""
    features = {}
    for column in columns:
        values = frame[column].to_numpy(dtype=np.float64)
        finite = values[np.isfinite(values)]
        inner = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]) if finite.size else []
        edges = np.unique(np.asarray(inner, dtype=np.float64))
        shares, missing = _shares(values, edges)
        features[column] = {"edges": edges.tolist(), "shares": shares.tolist(),
                            "non_finite": missing}
    return {"rows": len(frame), "bins": bins, "features": features}


def psi(profile: dict[str, Any], frame: pd.DataFrame, eps: float = 1e-4) -> dict[str, float]:
    """PSI of each profiled feature in ``frame`` against the profile."""
    missing = [c for c in profile["features"] if c not in frame.columns]
    if missing:
        raise ValueError(f"drift: columns missing from the new data: {missing[:10]}")
    out = {}
    for column, spec in profile["features"].items():
        edges = np.asarray(spec["edges"], dtype=np.float64)
        expected = np.append(np.asarray(spec["shares"], dtype=np.float64), spec["non_finite"])
        shares, nonfinite = _shares(frame[column].to_numpy(dtype=np.float64), edges)
        actual = np.append(shares, nonfinite)
        e, a = np.maximum(expected, eps), np.maximum(actual, eps)
        out[column] = float(np.sum((a - e) * np.log(a / e)))
    return out


@dataclass(frozen=True)
class DriftReport:
    psi: dict[str, float]
    max_psi: float
    worst: list[tuple[str, float]]
    drifted: list[str]
    threshold: float
    share_drifted: float

    def to_dict(self) -> dict[str, Any]:
        return {"max_psi": self.max_psi, "worst": [list(w) for w in self.worst],
                "drifted": self.drifted, "threshold": self.threshold,
                "share_drifted": self.share_drifted, "features": len(self.psi)}


def drift_report(profile: dict[str, Any], frame: pd.DataFrame,
                 threshold: float = 0.25) -> DriftReport:
    values = psi(profile, frame)
    ranked = sorted(values.items(), key=lambda kv: kv[1], reverse=True)
    drifted = [name for name, value in ranked if value > threshold]
    return DriftReport(values, ranked[0][1] if ranked else 0.0, ranked[:5], drifted, threshold,
                       len(drifted) / len(values) if values else 0.0)


class RetrainTriggerParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    psi_threshold: float = Field(default=0.25, ge=0)
    max_share_drifted: float = Field(default=0.5, ge=0, le=1)
    max_champion_age_days: float = Field(default=7.0, gt=0)


def early_retrain_reasons(report: DriftReport | None, champion_age_days: float | None,
                          params: RetrainTriggerParams) -> list[str]:
    """Why a retrain should run before its schedule (empty: no reason)."""
    reasons = []
    if report is not None and report.share_drifted > params.max_share_drifted:
        worst = ", ".join(f"{n} {v:.2f}" for n, v in report.worst[:3])
        reasons.append(f"{report.share_drifted:.0%} of features drifted (PSI > "
                       f"{params.psi_threshold:g}; worst: {worst}) above the "
                       f"{params.max_share_drifted:.0%} limit")
    if champion_age_days is not None and math.isfinite(champion_age_days) \
            and champion_age_days > params.max_champion_age_days:
        reasons.append(f"champion is {champion_age_days:.1f} days old (limit "
                       f"{params.max_champion_age_days:g})")
    return reasons


def champion_age_days(created_ms: int | float, now: datetime) -> float:
    """Days since an MLflow ``creation_timestamp`` (ms since the epoch, UTC)."""
    return (now - datetime.fromtimestamp(created_ms / 1000, UTC)).total_seconds() / 86400
