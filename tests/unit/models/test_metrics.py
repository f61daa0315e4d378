"""Classification metrics against scikit-learn, and the two baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from alphaloop.models.metrics import (
    METRIC_NAMES,
    baseline_predictions,
    classification_metrics,
    persistence_signal,
)
from tests.unit.models.conftest import make_labelled


def test_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.2, 500), 0.01, 0.99)
    got = classification_metrics(y, p)
    assert tuple(got) == METRIC_NAMES
    pred = (p >= 0.5).astype(int)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert got["auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, p))
    assert got["brier"] == pytest.approx(skm.brier_score_loss(y, p))
    assert got["n"] == 500


def test_perfect_and_single_class_predictions() -> None:
    perfect = classification_metrics(np.array([0, 1, 1, 0]), np.array([0.0, 1.0, 1.0, 0.0]))
    assert perfect["accuracy"] == perfect["auc"] == 1.0
    assert perfect["brier"] == 0.0 and perfect["log_loss"] < 1e-12
    single = classification_metrics(np.array([1, 1, 1]), np.array([0.9, 0.2, 0.7]))
    assert np.isnan(single["auc"])
    assert single["balanced_accuracy"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([0, 2], [0.1, 0.2], "0/1"),
        ([0, 1], [0.1, 1.2], r"\[0, 1\]"),
        ([0, 1], [0.1, np.nan], "finite"),
        ([0, 1, 1], [0.1, 0.2], "equal-length"),
        ([], [], "equal-length"),
    ],
)
def test_metrics_reject_bad_input(y: list[int], p: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        classification_metrics(np.array(y), np.array(p, dtype=float))


def test_persistence_signal_uses_the_past_only() -> None:
    frame = make_labelled(n=300, seed=3, horizon=2)
    signal = persistence_signal(frame, horizon=2)
    close = frame["close"].to_numpy()
    expected = (close[2:] > close[:-2]).astype(float)
    np.testing.assert_array_equal(signal[2:], expected)
    assert np.isnan(signal[:2]).all()
    # Without t1 the positional shift gives the same answer.
    np.testing.assert_array_equal(persistence_signal(frame[["close"]], 2), signal)
    # Changing the future leaves the signal up to now untouched.
    future = frame.copy()
    future.loc[200:, "close"] *= 3.0
    np.testing.assert_array_equal(persistence_signal(future, 2)[:200], signal[:200])


def test_persistence_signal_follows_t1_across_dropped_rows() -> None:
    frame = make_labelled(n=300, seed=4, horizon=1)
    kept = frame.drop(index=[50]).reset_index(drop=True)
    signal = persistence_signal(kept, horizon=1)
    # Row 50 was the predecessor of old row 51 (now 50): its past return is unknown.
    assert np.isnan(signal[50])
    close = frame["close"].to_numpy()
    assert signal[51] == float(close[52] > close[51])


def test_baselines_learn_from_training_rows_only() -> None:
    y_train = np.array([1, 1, 1, 0, 1, 0, 1, 1])
    signal_train = np.array([1.0, 1.0, 0.0, 0.0, np.nan, 1.0, 1.0, 1.0])
    signal_test = np.array([1.0, 0.0, np.nan])
    out = baseline_predictions(y_train, signal_train, signal_test)
    np.testing.assert_allclose(out["majority"], 0.75)
    # Known training signals: 7, hits (signal == label): rows 0, 1, 3, 6, 7 -> 5/7.
    hit = 5 / 7
    np.testing.assert_allclose(out["persistence"], [hit, 1 - hit, 0.75])


def test_persistence_keeps_its_direction_when_worse_than_chance() -> None:
    out = baseline_predictions(np.array([0, 1, 0, 1]), np.array([1.0, 0.0, 1.0, 0.0]),
                               np.array([1.0, 0.0]))
    assert out["persistence"][0] > 0.5 > out["persistence"][1]
    always = baseline_predictions(np.ones(50, dtype=int), np.ones(50), np.array([1.0]))
    assert always["persistence"][0] == pytest.approx(0.99)


def test_baselines_on_a_series_input() -> None:
    out = baseline_predictions(pd.Series([0, 0, 1]).to_numpy(), np.array([0.0, 0.0, 1.0]),
                               np.array([0.0]))
    assert out["majority"][0] == pytest.approx(1 / 3)
    assert classification_metrics(np.array([0]), out["majority"])["accuracy"] == 1.0
