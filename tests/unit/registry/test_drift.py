import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from alphaloop.registry.drift import (
    RetrainTriggerParams,
    champion_age_days,
    drift_report,
    early_retrain_reasons,
    feature_profile,
    psi,
)

RNG = np.random.default_rng(7)


def frame(n: int = 5000, shift: float = 0.0, scale: float = 1.0) -> pd.DataFrame:
    return pd.DataFrame({"a": RNG.normal(shift, scale, n), "b": RNG.normal(0, 1, n),
                         "flat": np.ones(n)})


def reference_psi(train: np.ndarray, new: np.ndarray, bins: int = 10) -> float:
    """PSI written out plainly: quantile edges of the training values, loop over bins."""
    edges = np.unique(np.quantile(train, np.linspace(0, 1, bins + 1)[1:-1]))
    bounds = [-np.inf, *edges, np.inf]
    total = 0.0
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        e = max(float(((train >= lo) & (train < hi)).mean()), 1e-4)
        a = max(float(((new >= lo) & (new < hi)).mean()), 1e-4)
        total += (a - e) * np.log(a / e)
    return total


def test_same_distribution_is_stable_and_a_shift_is_not() -> None:
    profile = feature_profile(frame(), ["a", "b", "flat"])
    same = psi(profile, frame())
    assert max(same.values()) < 0.02
    assert psi(profile, frame(shift=1.0))["a"] > 0.25
    assert psi(profile, frame(scale=2.0))["a"] > 0.1
    assert psi(profile, frame())["flat"] == pytest.approx(0.0)


def test_matches_a_plain_reference_and_survives_json() -> None:
    train, new = frame(), frame(shift=0.3)
    profile = json.loads(json.dumps(feature_profile(train, ["a"])))
    expected = reference_psi(train["a"].to_numpy(), new["a"].to_numpy())
    assert psi(profile, new)["a"] == pytest.approx(expected, abs=1e-12)


def test_non_finite_share_is_a_bin_of_its_own() -> None:
    train = frame()
    profile = feature_profile(train, ["b"])
    new = frame()
    new.loc[: len(new) // 3, "b"] = np.nan
    assert psi(profile, new)["b"] > 0.25


def test_missing_column_is_named() -> None:
    profile = feature_profile(frame(), ["a", "b"])
    with pytest.raises(ValueError, match="'b'"):
        psi(profile, frame().drop(columns=["b"]))


def test_report_and_triggers() -> None:
    profile = feature_profile(frame(), ["a", "b"])
    report = drift_report(profile, frame(shift=1.0), threshold=0.25)
    assert report.worst[0][0] == "a" and report.drifted == ["a"]
    assert report.share_drifted == 0.5
    params = RetrainTriggerParams(max_share_drifted=0.4, max_champion_age_days=7)
    reasons = early_retrain_reasons(report, 9.2, params)
    assert len(reasons) == 2 and "50% of features drifted" in reasons[0]
    assert "9.2 days old" in reasons[1]
    calm = RetrainTriggerParams(max_share_drifted=0.5, max_champion_age_days=10)
    assert early_retrain_reasons(report, 9.2, calm) == []
    assert early_retrain_reasons(None, None, params) == []


def test_champion_age() -> None:
    now = datetime(2026, 1, 3, tzinfo=UTC)
    created = datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000
    assert champion_age_days(created, now) == pytest.approx(2.0)
