"""Feature drift (PSI against the training window's profile) and early-retrain triggers.

A profile keeps, per feature, quantile bin edges of the training window's finite values and the
share of rows in each bin (plus the share of non-finite values), so drift can be measured later
without the training data. PSI = sum over bins of (a - e) * ln(a / e), shares floored at ``eps``.
Pure logic: no I/O, no MLflow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

FloatArray = npt.NDArray[np.float64]

WORST = 5  # features kept in DriftReport.worst


def _values(frame: pd.DataFrame, column: str) -> FloatArray:
    """A column as float64, missing values (pd.NA included) as NaN."""
    return frame[column].to_numpy(dtype=np.float64, na_value=np.nan)


def _shares(values: FloatArray, edges: FloatArray) -> tuple[FloatArray, float]:
    """Share of all rows in each bin of ``edges`` (outer bins open-ended), and the non-finite share.

    Bin i holds edges[i-1] <= x < edges[i]; the shares and the non-finite share sum to 1.
    """
    finite = np.isfinite(values)
    n = max(values.size, 1)
    bins = np.searchsorted(edges, values[finite], side="right")
    counts = np.bincount(bins, minlength=edges.size + 1)
    return counts / n, float((~finite).sum() / n)


def _edges(values: FloatArray, bins: int) -> FloatArray:
    """Deduplicated inner quantile edges of the finite values (none for a constant column)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or finite.min() == finite.max():
        return np.empty(0, dtype=np.float64)  # a single bin
    inner = np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    return np.unique(inner.astype(np.float64))


def feature_profile(frame: pd.DataFrame, columns: Sequence[str], bins: int = 10
                    ) -> dict[str, Any]:
    """Per-column quantile bin edges and shares of the training window (JSON-serialisable)."""
    if bins < 1:
        raise ValueError(f"drift: bins must be >= 1, got {bins}")
    features: dict[str, Any] = {}
    for column in columns:
        values = _values(frame, column)
        edges = _edges(values, bins)
        shares, non_finite = _shares(values, edges)
        # Plain Python floats: json writes their repr, so a profile round-trips exactly.
        features[str(column)] = {"edges": edges.tolist(), "shares": shares.tolist(),
                                 "non_finite": non_finite}
    return {"rows": len(frame), "bins": bins, "features": features}


def psi(profile: dict[str, Any], frame: pd.DataFrame, eps: float = 1e-4) -> dict[str, float]:
    """PSI of each profiled feature in ``frame`` against the profile (extra columns ignored)."""
    missing = [c for c in profile["features"] if c not in frame.columns]
    if missing:
        raise ValueError(f"drift: {len(missing)} profiled column(s) missing from the new data: "
                         f"{missing}")
    out: dict[str, float] = {}
    for column, spec in profile["features"].items():
        edges = np.asarray(spec["edges"], dtype=np.float64)
        expected = np.append(np.asarray(spec["shares"], dtype=np.float64), spec["non_finite"])
        shares, non_finite = _shares(_values(frame, column), edges)
        actual = np.append(shares, non_finite)
        e, a = np.maximum(expected, eps), np.maximum(actual, eps)
        out[column] = float(np.sum((a - e) * np.log(a / e)))
    return out


@dataclass(frozen=True)
class DriftReport:
    """PSI per feature, the worst ones and those above the threshold."""

    psi: dict[str, float]
    max_psi: float
    worst: list[tuple[str, float]]  # top WORST by PSI, descending
    drifted: list[str]  # PSI > threshold, by PSI descending
    threshold: float
    share_drifted: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (tuples as lists) for reports, tags and flow results."""
        return {"max_psi": self.max_psi, "worst": [[n, v] for n, v in self.worst],
                "drifted": list(self.drifted), "threshold": self.threshold,
                "share_drifted": self.share_drifted, "features": len(self.psi),
                "psi": dict(self.psi)}


def drift_report(profile: dict[str, Any], frame: pd.DataFrame,
                 threshold: float = 0.25) -> DriftReport:
    """PSI of ``frame`` against ``profile``, summarised against ``threshold``."""
    values = psi(profile, frame)
    ranked = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))  # ties by name: stable
    drifted = [name for name, value in ranked if value > threshold]
    return DriftReport(psi=values, max_psi=ranked[0][1] if ranked else 0.0,
                       worst=ranked[:WORST], drifted=drifted, threshold=threshold,
                       share_drifted=len(drifted) / len(values) if values else 0.0)


class RetrainTriggerParams(BaseModel):
    """When drift or staleness should start a retrain before its schedule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    psi_threshold: float = Field(default=0.25, ge=0)
    # Share of features with PSI > psi_threshold above which a retrain starts early.
    max_share_drifted: float = Field(default=0.1, ge=0, le=1)
    max_champion_age_days: float = Field(default=7.0, gt=0)


def _num(x: float) -> str:
    """One decimal, or two significant digits for tiny values (so a limit never reads 0.0)."""
    return f"{x:.1f}" if abs(x) >= 0.1 or x == 0 else f"{x:.2g}"


def early_retrain_reasons(report: DriftReport | None, champion_age_days: float | None,
                          params: RetrainTriggerParams) -> list[str]:
    """Why a retrain should run before its schedule (empty: no reason; None inputs: no reason)."""
    reasons = []
    if report is not None and report.psi:
        # params.psi_threshold decides, whatever threshold the report was built with.
        ranked = sorted(report.psi.items(), key=lambda kv: (-kv[1], kv[0]))
        drifted = [(n, v) for n, v in ranked if v > params.psi_threshold]
        share = len(drifted) / len(report.psi)
        if share > params.max_share_drifted:
            worst = ", ".join(f"{n} {v:.2f}" for n, v in drifted[:3])
            reasons.append(f"{share:.0%} of features drifted (PSI > {params.psi_threshold:g}; "
                           f"worst: {worst}) above the {params.max_share_drifted:.0%} limit")
    if (champion_age_days is not None and math.isfinite(champion_age_days)
            and champion_age_days > params.max_champion_age_days):
        reasons.append(f"champion is {_num(champion_age_days)} days old "
                       f"(limit {_num(params.max_champion_age_days)})")
    return reasons


def champion_age_days(created_ms: int | float, now: datetime) -> float:
    """Days since an MLflow ``creation_timestamp`` (ms since the epoch, UTC); naive ``now``: UTC."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return (now.timestamp() - float(created_ms) / 1000.0) / 86400.0
