"""Purged k-fold, walk-forward and the inner validation split: no overlap, no leak."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    cross_val_predict,
    cross_val_score,
)
from sklearn.neighbors import KNeighborsClassifier

from alphaloop.cv import (
    CVParams,
    PurgedKFold,
    WalkForwardSplit,
    inner_validation_split,
    purged_kfold_cv,
    resolve_embargo,
)
from alphaloop.labels import prepare_target
from tests.conftest import make_raw_bars


def _t1(n: int, horizon: int) -> pd.Series:
    """Label ends ``horizon`` bars ahead on a 15-minute UTC grid (as prepare_target writes)."""
    t0 = pd.date_range("2024-01-01", periods=n + horizon, freq="15min", tz="UTC")
    return pd.Series(t0[horizon:], index=t0[:n])


def _labelled(n: int = 300, horizon: int = 4, seed: int = 0) -> pd.DataFrame:
    bars = make_raw_bars(n + horizon, seed=seed)
    bars["f1"] = np.random.default_rng(seed).normal(size=len(bars))
    return prepare_target(bars, horizon=horizon, threshold=0.0)


@pytest.mark.parametrize(("horizon", "embargo"), [(1, 0), (4, 3), (20, 0.05), (7, 0)])
def test_no_training_label_overlaps_the_test_span_and_folds_partition(
    horizon: int, embargo: float
) -> None:
    n = 503
    t1 = _t1(n, horizon)
    t0_values, t1_values = t1.index.to_numpy(), t1.to_numpy()
    tests = []
    for train, test in PurgedKFold(5, t1=t1, embargo=embargo).split(np.zeros((n, 2))):
        assert train.dtype.kind == "i" and test.dtype.kind == "i"
        assert np.intersect1d(train, test).size == 0
        span_start, span_end = t0_values[test].min(), t1_values[test].max()
        overlaps = (t0_values[train] <= span_end) & (t1_values[train] >= span_start)
        assert not overlaps.any()
        tests.append(test)
    assert np.array_equal(np.concatenate(tests), np.arange(n))
    assert [len(t) for t in tests] == [101, 101, 101, 100, 100]


def test_embargo_removes_exactly_the_samples_after_each_fold() -> None:
    n, horizon = 100, 4
    splits = list(PurgedKFold(5, t1=_t1(n, horizon), embargo=3).split(np.zeros(n)))
    # Fold [20, 40): purge 16..19 before and 40..43 after, then embargo 44..46 only.
    assert splits[1][0].tolist() == [*range(16), *range(47, 100)]
    assert splits[0][0].tolist() == list(range(27, 100))  # nothing before the first fold
    assert splits[4][0].tolist() == list(range(76))  # nothing after the last fold
    plain = list(PurgedKFold(5, t1=_t1(n, horizon)).split(np.zeros(n)))
    for (embargoed, test), (purged_only, _) in zip(splits, plain, strict=True):
        removed = np.setdiff1d(purged_only, embargoed)
        first_after = test[-1] + horizon + 1
        assert removed.tolist() == list(range(first_after, min(first_after + 3, n)))
        assert (removed > test[-1]).all()


def test_fractional_embargo_counts_samples() -> None:
    assert resolve_embargo(0.01, 500) == 5
    assert resolve_embargo(0.29, 100) == 29
    assert resolve_embargo(0.0, 500) == 0
    assert resolve_embargo(10, 500) == resolve_embargo(10.0, 500) == 10
    n = 500
    with_fraction = list(PurgedKFold(5, t1=_t1(n, 2), embargo=0.01).split(np.zeros(n)))
    with_bars = list(PurgedKFold(5, t1=_t1(n, 2), embargo=5).split(np.zeros(n)))
    for (a, _), (b, _) in zip(with_fraction, with_bars, strict=True):
        assert np.array_equal(a, b)
    for bad in (-1, 1.5, float("inf"), True):
        with pytest.raises(ValueError, match="embargo"):
            resolve_embargo(bad, 10)


def test_horizon_one_equals_kfold_minus_the_purged_neighbours() -> None:
    n = 97
    purged = PurgedKFold(4, t1=_t1(n, 1)).split(np.zeros(n))
    for (train, test), (k_train, k_test) in zip(purged, KFold(4).split(np.zeros(n)),
                                                 strict=True):
        assert np.array_equal(test, k_test)
        neighbours = [test[0] - 1, test[-1] + 1]
        assert train.tolist() == [i for i in k_train if i not in neighbours]


def test_numeric_times_and_a_dataframe_x_work() -> None:
    t1 = pd.Series(np.arange(10) + 2, index=np.arange(10))
    frame = pd.DataFrame({"a": np.arange(10.0)}, index=np.arange(50, 60))
    train, test = next(PurgedKFold(2, t1=t1).split(frame))
    assert test.tolist() == [0, 1, 2, 3, 4]
    assert train.tolist() == [7, 8, 9]  # 5 and 6 start inside the test span [0, 6]


def test_works_in_sklearn_cross_validation_and_grid_search() -> None:
    frame = _labelled(400)
    X, y = frame[["f1", "close"]], frame["target"]
    t1 = frame["t1"].set_axis(pd.Index(frame["timestamp"]))
    cv = PurgedKFold(n_splits=4, t1=t1, embargo=0.01)
    scores = cross_val_score(LogisticRegression(), X, y, cv=cv)
    assert scores.shape == (4,) and np.isfinite(scores).all()
    predicted = cross_val_predict(LogisticRegression(), X, y, cv=cv)
    assert predicted.shape == (len(frame),)
    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=cv).fit(X, y)
    assert search.n_splits_ == 4
    assert "split3_test_score" in search.cv_results_
    assert repr(cv) == "PurgedKFold(n_splits=4, t1=<400 samples>, embargo=0.01)"


def test_purged_kfold_cv_reads_the_frame_columns() -> None:
    frame = _labelled(200, horizon=3)
    splitter = purged_kfold_cv(n_splits=5, embargo=10)
    t1 = frame["t1"].set_axis(pd.Index(frame["timestamp"]))
    expected = PurgedKFold(5, t1=t1, embargo=10).split(frame)
    for (train, test), (e_train, e_test) in zip(splitter(frame), expected, strict=True):
        assert train.dtype.kind == "i"
        assert np.array_equal(train, e_train) and np.array_equal(test, e_test)
    with pytest.raises(ValueError, match="t1"):
        next(splitter(frame.drop(columns="t1")))
    with pytest.raises(ValueError, match="n_splits"):
        purged_kfold_cv(n_splits=1)


@pytest.mark.parametrize(
    ("cv", "n", "message"),
    [
        (PurgedKFold(3), 10, "needs t1"),
        (PurgedKFold(3, t1=_t1(9, 1)), 10, "align"),
        (PurgedKFold(3, t1=_t1(2, 1)), 2, "cannot split"),
        (PurgedKFold(2, t1=_t1(10, 1).iloc[::-1]), 10, "sorted"),
        (PurgedKFold(2, t1=pd.Series(np.arange(10) - 1, index=np.arange(10))), 10, "at or after"),
        (PurgedKFold(2, t1=pd.Series(np.full(10, 99), index=np.arange(10))), 10, "no training"),
        (PurgedKFold(2, t1=pd.Series(_t1(10, 1).to_numpy(), index=np.arange(10))), 10, "kind"),
        (PurgedKFold(2, t1=pd.Series(["a"] * 10, index=np.arange(10))), 10, "datetimes or num"),
    ],
)
def test_purged_kfold_rejects_bad_t1(cv: PurgedKFold, n: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        next(cv.split(np.zeros(n)))


def test_purged_kfold_rejects_bad_arguments() -> None:
    for bad in (1, 2.5, True):
        with pytest.raises(ValueError, match="n_splits"):
            PurgedKFold(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="embargo"):
        PurgedKFold(3, embargo=-0.1)
    assert PurgedKFold(7).get_n_splits() == 7


def test_purging_removes_the_leak_of_overlapping_labels() -> None:
    # A random walk with 20-bar labels: neighbours share most of their label window, so a
    # 1-nearest-neighbour model on the time index just copies a neighbour's label. Plain
    # unshuffled KFold lets it copy across each fold edge; purging leaves it at chance.
    n, horizon, folds = 2000, 20, 100
    rng = np.random.default_rng(7)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    bars = pd.DataFrame({
        "timestamp": pd.date_range("2024-01-01", periods=n, freq="15min", tz="UTC"),
        "close": close,
    })
    frame = prepare_target(bars, horizon=horizon, threshold=0.0)
    X = np.arange(len(frame), dtype=float).reshape(-1, 1)
    y = frame["target"].to_numpy()
    t1 = frame["t1"].set_axis(pd.Index(frame["timestamp"]))
    model = KNeighborsClassifier(n_neighbors=1)
    leaky = cross_val_score(model, X, y, cv=KFold(folds)).mean()
    purged = cross_val_score(model, X, y, cv=PurgedKFold(folds, t1=t1)).mean()
    assert leaky > 0.65
    assert purged < 0.58
    assert leaky - purged > 0.15


def test_walk_forward_expanding_windows() -> None:
    n = 400
    cv = WalkForwardSplit(initial_window=100, step=50, gap=5)
    splits = list(cv.split(np.zeros(n)))
    assert cv.get_n_splits(np.zeros(n)) == len(splits) == 6  # ceil((400 - 105) / 50)
    for fold, (train, test) in enumerate(splits):
        assert train.tolist() == list(range(100 + 50 * fold))
        assert test[0] - train[-1] - 1 == 5  # the gap
        assert test.tolist() == list(range(105 + 50 * fold, min(155 + 50 * fold, n)))
    tests = np.concatenate([test for _, test in splits])
    assert np.array_equal(tests, np.arange(105, n))  # disjoint and contiguous
    assert len(splits[-1][1]) == 45  # the last fold is what is left


def test_walk_forward_rolling_window() -> None:
    cv = WalkForwardSplit(initial_window=100, step=50, gap=0, max_train=80)
    for fold, (train, test) in enumerate(cv.split(np.zeros(300))):
        end = 100 + 50 * fold
        assert train.tolist() == list(range(end - 80, end))
        assert test.min() > train.max()


def test_walk_forward_purges_labels_reaching_into_the_test_fold() -> None:
    n, horizon = 300, 10
    cv = WalkForwardSplit(initial_window=100, step=50, gap=0, t1=_t1(n, horizon))
    assert cv.get_n_splits() == 4
    t1_values, t0_values = _t1(n, horizon).to_numpy(), _t1(n, horizon).index.to_numpy()
    for fold, (train, test) in enumerate(cv.split(np.zeros(n))):
        assert train.tolist() == list(range(100 + 50 * fold - horizon))
        assert (t1_values[train] < t0_values[test[0]]).all()
    enough_gap = WalkForwardSplit(initial_window=100, step=50, gap=horizon, t1=_t1(n, horizon))
    no_t1 = WalkForwardSplit(initial_window=100, step=50, gap=horizon)
    for (a, _), (b, _) in zip(enough_gap.split(np.zeros(n)), no_t1.split(np.zeros(n)),
                              strict=True):
        assert np.array_equal(a, b)  # a gap of one horizon needs no extra purge


def test_walk_forward_in_cross_val_score_and_bad_arguments() -> None:
    frame = _labelled(400)
    cv = WalkForwardSplit(initial_window=200, step=50, gap=4)
    scores = cross_val_score(LogisticRegression(), frame[["f1"]], frame["target"], cv=cv)
    assert scores.shape == (4,)
    assert "gap=4" in repr(cv)
    for kwargs in ({"gap": -1}, {"step": 0}, {"initial_window": 0}, {"max_train": 0}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            WalkForwardSplit(**{"initial_window": 10, "step": 5, "gap": 0, **kwargs})
    with pytest.raises(ValueError, match="no test fold"):
        next(WalkForwardSplit(initial_window=95, step=5, gap=5).split(np.zeros(100)))
    with pytest.raises(ValueError, match="needs X"):
        WalkForwardSplit(initial_window=10, step=5, gap=0).get_n_splits()


def test_inner_validation_split_is_the_purged_tail() -> None:
    n, horizon = 100, 5
    train, val = inner_validation_split(n, _t1(n, horizon), fraction=0.2)
    assert val.tolist() == list(range(80, 100))
    assert train.tolist() == list(range(75))  # 75..79 end inside the validation span
    train, _ = inner_validation_split(n, _t1(n, horizon), fraction=0.2, embargo=3)
    assert train.tolist() == list(range(72))
    train, val = inner_validation_split(10, _t1(10, 1), fraction=0.01)
    assert val.tolist() == [9] and train.tolist() == list(range(8))
    for kwargs in ({"fraction": 0.0}, {"fraction": 1.0}, {"embargo": -1}, {"embargo": 95}):
        with pytest.raises(ValueError, match=r"fraction|embargo|no training"):
            inner_validation_split(n, _t1(n, horizon), **kwargs)
    with pytest.raises(ValueError, match="align"):
        inner_validation_split(n + 1, _t1(n, horizon))


def test_cv_params_defaults_and_validation() -> None:
    params = CVParams()
    # None: resolved from the feature plan / the data (tests/unit/test_lookback.py).
    assert (params.n_splits, params.embargo) == (5, None)
    assert (params.walk_forward_initial, params.walk_forward_step) == (None, 500)
    assert CVParams(embargo=10).embargo == 10.0
    for bad in ({"n_splits": 1}, {"embargo": -0.1}, {"embargo": 2.5}, {"unknown": 1},
                {"walk_forward_step": 0}):
        with pytest.raises(ValidationError):
            CVParams.model_validate(bad)
