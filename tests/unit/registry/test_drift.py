"""Feature profile, PSI, drift report and early-retrain triggers (pure logic, tiny data)."""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from alphaloop.registry.drift import (
    DriftReport,
    RetrainTriggerParams,
    champion_age_days,
    drift_report,
    early_retrain_reasons,
    feature_profile,
    psi,
)

N = 5000


def normal(seed: int, n: int = N, loc: float = 0.0, scale: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(loc, scale, n), "b": rng.normal(0.0, 1.0, n)})


def reference_psi(train: np.ndarray, new: np.ndarray, bins: int = 10, eps: float = 1e-4) -> float:
    """PSI written out plainly: quantile edges of the finite training values, a Python loop over
    the bins (-inf and +inf outer bins) and one more bin for the non-finite values."""
    finite = [float(x) for x in train if math.isfinite(x)]
    if len(finite) == 0 or min(finite) == max(finite):
        edges: list[float] = []
    else:
        # The profile's quantile levels, exactly (i / bins can differ from linspace by an ulp,
        # which moves an edge onto or off a training value).
        levels = np.linspace(0.0, 1.0, bins + 1)[1:-1]
        edges = sorted({float(q) for q in np.quantile(np.array(finite), levels)})
    bounds = [-math.inf, *edges, math.inf]

    def share(values: np.ndarray, lo: float, hi: float) -> float:
        return sum(1 for x in values if math.isfinite(x) and lo <= x < hi) / len(values)

    def non_finite(values: np.ndarray) -> float:
        return sum(1 for x in values if not math.isfinite(x)) / len(values)

    pairs = [(share(train, lo, hi), share(new, lo, hi))
             for lo, hi in itertools.pairwise(bounds)]
    pairs.append((non_finite(train), non_finite(new)))
    total = 0.0
    for e_raw, a_raw in pairs:
        e, a = max(e_raw, eps), max(a_raw, eps)
        total += (a - e) * math.log(a / e)
    return total


def test_profile_shape_and_shares() -> None:
    train = normal(1)
    train.loc[:499, "b"] = np.nan  # 10% missing
    profile = feature_profile(train, ["a", "b"], bins=10)
    assert profile["rows"] == N and profile["bins"] == 10 and set(profile["features"]) == {"a", "b"}
    a, b = profile["features"]["a"], profile["features"]["b"]
    assert len(a["edges"]) == 9 and len(a["shares"]) == 10
    assert np.all(np.diff(a["edges"]) > 0)
    assert a["non_finite"] == 0.0 and b["non_finite"] == pytest.approx(0.1)
    # Deciles of the finite values: about a tenth each of the finite rows.
    assert np.allclose(a["shares"], 0.1, atol=2e-3)
    assert np.allclose(b["shares"], 0.09, atol=2e-3)
    for spec in (a, b):
        assert sum(spec["shares"]) + spec["non_finite"] == pytest.approx(1.0)


def test_identical_distribution_is_stable() -> None:
    profile = feature_profile(normal(1), ["a", "b"])
    values = psi(profile, normal(2))
    assert set(values) == {"a", "b"}
    assert max(values.values()) < 0.02
    assert psi(profile, normal(1)) == pytest.approx({"a": 0.0, "b": 0.0}, abs=1e-12)


def test_mean_shift_and_variance_change_are_detected() -> None:
    profile = feature_profile(normal(1), ["a", "b"])
    shifted = psi(profile, normal(2, loc=1.0))
    assert shifted["a"] > 0.5 and shifted["b"] < 0.02
    assert psi(profile, normal(3, scale=2.0))["a"] > 0.25
    # More drift reads as more PSI.
    assert psi(profile, normal(4, loc=0.5))["a"] < shifted["a"]


def test_non_finite_share_change_is_detected() -> None:
    train = normal(1)
    profile = feature_profile(train, ["b"])
    new = normal(2)
    new.loc[: N // 5 - 1, "b"] = np.nan  # 0% -> 20% missing
    assert psi(profile, new)["b"] > 0.25
    infinite = normal(2)
    infinite.loc[: N // 5 - 1, "b"] = np.inf  # inf counts as non-finite, not as the top bin
    assert psi(profile, infinite)["b"] == pytest.approx(psi(profile, new)["b"], abs=1e-12)
    # The same missing share in training and new data is not drift.
    train.loc[: N // 5 - 1, "b"] = np.nan
    assert psi(feature_profile(train, ["b"]), new)["b"] < 0.02


def test_constant_and_all_missing_columns() -> None:
    ones = pd.DataFrame({"flat": np.ones(100), "gone": np.full(100, np.nan)})
    profile = feature_profile(ones, ["flat", "gone"])
    assert profile["features"]["flat"] == {"edges": [], "shares": [1.0], "non_finite": 0.0}
    assert profile["features"]["gone"] == {"edges": [], "shares": [0.0], "non_finite": 1.0}
    assert psi(profile, ones) == {"flat": 0.0, "gone": 0.0}
    half = ones.copy()
    half.loc[:49, "flat"] = np.nan
    half.loc[:49, "gone"] = 3.0
    changed = psi(profile, half)
    assert changed["flat"] > 0.25 and changed["gone"] > 0.25


def test_missing_column_is_named_and_extra_columns_are_ignored() -> None:
    profile = feature_profile(normal(1), ["a", "b"])
    with pytest.raises(ValueError, match=r"\['b'\]"):
        psi(profile, normal(2).drop(columns=["b"]))
    extra = normal(2).assign(c=np.arange(N, dtype=float))
    assert set(psi(profile, extra)) == {"a", "b"}


def test_profile_round_trips_through_json() -> None:
    train = normal(1)
    train.loc[:9, "a"] = np.nan
    profile = feature_profile(train, ["a", "b"], bins=7)
    restored = json.loads(json.dumps(profile))
    assert restored == profile
    new = normal(2, loc=0.3)
    assert psi(restored, new) == psi(profile, new)


@pytest.mark.parametrize("bins", [1, 4, 10, 20])
def test_matches_a_plain_reference(bins: int) -> None:
    rng = np.random.default_rng(bins)
    n = 800
    ties = rng.integers(0, 4, n).astype(float)  # heavy ties: duplicate quantile edges
    train = pd.DataFrame({"cont": rng.standard_t(3, n), "ties": ties,
                          "holes": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n))})
    new = pd.DataFrame({"cont": rng.standard_t(3, 300) * 1.3 + 0.2,
                        "ties": rng.integers(0, 6, 300).astype(float),
                        "holes": np.where(rng.random(300) < 0.3, np.inf, rng.normal(size=300))})
    values = psi(json.loads(json.dumps(feature_profile(train, list(train), bins))), new)
    for column in train:
        expected = reference_psi(train[column].to_numpy(), new[column].to_numpy(), bins)
        assert values[column] == pytest.approx(expected, abs=1e-12), column


def test_drift_report_ranks_the_worst_and_lists_the_drifted() -> None:
    rng = np.random.default_rng(5)
    shifts = {"f0": 0.0, "f1": 1.5, "f2": 0.1, "f3": 1.0, "f4": 0.6, "f5": 2.5, "f6": 0.0}
    train = pd.DataFrame({k: rng.normal(size=N) for k in shifts})
    new = pd.DataFrame({k: rng.normal(loc=s, size=N) for k, s in shifts.items()})
    report = drift_report(feature_profile(train, list(shifts)), new, threshold=0.25)
    assert isinstance(report, DriftReport) and set(report.psi) == set(shifts)
    assert [n for n, _ in report.worst] == ["f5", "f1", "f3", "f4", "f2"]
    assert [v for _, v in report.worst] == sorted(report.psi.values(), reverse=True)[:5]
    assert report.max_psi == report.psi["f5"]
    assert report.drifted == ["f5", "f1", "f3", "f4"]
    assert report.share_drifted == pytest.approx(4 / 7) and report.threshold == 0.25
    as_dict = json.loads(json.dumps(report.to_dict()))
    assert as_dict["worst"][0] == ["f5", report.psi["f5"]] and as_dict["features"] == 7
    assert as_dict["drifted"] == report.drifted and as_dict["psi"] == report.psi
    strict = drift_report(feature_profile(train, list(shifts)), new, threshold=100.0)
    assert strict.drifted == [] and strict.share_drifted == 0.0


def _report(values: dict[str, float], threshold: float = 0.25) -> DriftReport:
    ranked = sorted(values.items(), key=lambda kv: -kv[1])
    drifted = [n for n, v in ranked if v > threshold]
    return DriftReport(values, ranked[0][1], ranked[:5], drifted, threshold,
                       len(drifted) / len(values))


def test_early_retrain_fires_on_share_drifted() -> None:
    values = {f"f{i}": 0.01 for i in range(8)} | {"rsi_14": 0.91, "atr_14": 0.4}
    params = RetrainTriggerParams()  # 0.25 PSI, 10% share, 7 days
    reasons = early_retrain_reasons(_report(values), None, params)
    assert reasons == ["20% of features drifted (PSI > 0.25; worst: rsi_14 0.91, atr_14 0.40) "
                       "above the 10% limit"]
    # Exactly at the limit (2 of 10 = 20%) or below it: no trigger.
    assert early_retrain_reasons(_report(values), None,
                                 RetrainTriggerParams(max_share_drifted=0.2)) == []
    assert early_retrain_reasons(_report(values), 3.0,
                                 RetrainTriggerParams(psi_threshold=1.0)) == []


def test_early_retrain_fires_on_age_and_handles_none() -> None:
    params = RetrainTriggerParams()
    assert early_retrain_reasons(None, 9.2, params) == ["champion is 9.2 days old (limit 7.0)"]
    assert early_retrain_reasons(None, 7.0, params) == []
    assert early_retrain_reasons(None, 6.9, params) == []
    assert early_retrain_reasons(None, None, params) == []
    assert early_retrain_reasons(None, math.nan, params) == []
    both = early_retrain_reasons(_report({"a": 2.0, "b": 0.0}), 30.0, params)
    assert len(both) == 2 and both[0].startswith("50% of features drifted")
    assert both[1] == "champion is 30.0 days old (limit 7.0)"


def test_trigger_params_are_validated() -> None:
    params = RetrainTriggerParams()
    assert (params.psi_threshold, params.max_share_drifted, params.max_champion_age_days) == (
        0.25, 0.1, 7.0)
    for bad in ({"psi_threshold": -0.1}, {"max_share_drifted": 1.5},
                {"max_share_drifted": -0.01}, {"max_champion_age_days": 0.0}, {"typo": 1}):
        with pytest.raises(ValidationError):
            RetrainTriggerParams(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        params.psi_threshold = 0.5  # type: ignore[misc]


def test_champion_age_days() -> None:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    created_ms = int(created.timestamp() * 1000)
    assert champion_age_days(created_ms, created + timedelta(days=2, hours=6)) == pytest.approx(
        2.25)
    assert champion_age_days(float(created_ms), datetime(2026, 1, 3)) == pytest.approx(2.0)
    other_zone = datetime(2026, 1, 3, 5, tzinfo=UTC).astimezone()  # same instant, local time
    assert champion_age_days(created_ms, other_zone) == pytest.approx(2 + 5 / 24)
