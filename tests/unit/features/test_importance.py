"""feature_importance_proxy: ranking, constant columns, agreement with pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alphaloop.features import feature_importance_proxy


def _frame(n: int = 2000, horizon: int = 1, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    forward = np.full(n, np.nan)
    forward[:-horizon] = np.log(close[horizon:] / close[:-horizon])
    noisy_sign = np.sign(np.nan_to_num(forward)) + rng.normal(0.0, 0.8, n)
    return pd.DataFrame(
        {
            "close": close,
            "noise_a": rng.normal(size=n),
            "planted": noisy_sign,  # knows the future on purpose: it must rank first
            "noise_b": rng.normal(size=n),
            "const": 1.5,
            "ties": rng.integers(0, 3, n).astype(float),
        }
    )


FEATURES = ["noise_a", "planted", "noise_b", "const", "ties"]


def test_planted_signal_ranks_first_and_constant_scores_zero() -> None:
    ranking = feature_importance_proxy(_frame(), FEATURES)
    assert list(ranking.columns) == ["feature", "spearman", "abs_spearman", "rank"]
    assert ranking["feature"].iloc[0] == "planted"
    assert ranking["spearman"].iloc[0] > 0.5
    assert list(ranking["rank"]) == [1, 2, 3, 4, 5]
    assert ranking["abs_spearman"].is_monotonic_decreasing
    const = ranking.set_index("feature").loc["const"]
    assert const["spearman"] == 0.0
    assert const["abs_spearman"] == 0.0
    assert not ranking[["spearman", "abs_spearman"]].isna().any().any()


def test_horizon_uses_the_matching_forward_return() -> None:
    frame = _frame(horizon=5)
    assert feature_importance_proxy(frame, FEATURES, horizon=5)["feature"].iloc[0] == "planted"
    one_bar = feature_importance_proxy(frame, FEATURES, horizon=1).set_index("feature")
    five_bar = feature_importance_proxy(frame, FEATURES, horizon=5).set_index("feature")
    assert five_bar.loc["planted", "abs_spearman"] > one_bar.loc["planted", "abs_spearman"]


def test_matches_pandas_spearman_with_ties() -> None:
    frame = _frame()
    ranking = feature_importance_proxy(frame, FEATURES).set_index("feature")
    target = np.log(frame["close"].shift(-1) / frame["close"])
    for col in ("noise_a", "planted", "ties"):
        expected = frame[col].iloc[:-1].corr(target.iloc[:-1], method="spearman")
        assert ranking.loc[col, "spearman"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"feature_columns": ["missing"]}, "missing columns"),
        ({"horizon": 0}, "horizon must be a positive integer"),
        ({"feature_columns": []}, "feature_columns is empty"),
    ],
)
def test_bad_arguments_raise(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"feature_columns": FEATURES, "horizon": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        feature_importance_proxy(_frame(), **args)  # type: ignore[arg-type]


def test_non_finite_feature_raises() -> None:
    frame = _frame()
    frame.loc[10, "noise_a"] = np.inf
    with pytest.raises(ValueError, match="noise_a"):
        feature_importance_proxy(frame, FEATURES)
