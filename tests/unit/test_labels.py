"""prepare_target and past_return: hand-computed labels, dead zone, ties and no look-past-t1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from alphaloop.labels import LABEL_COLUMNS, TargetParams, past_return, prepare_target
from tests.conftest import make_raw_bars

CLOSE = [100.0, 101.0, 99.0, 99.0, 102.0, 100.0, 102.0, 100.0, 101.0, 104.0]


def _ten_rows() -> pd.DataFrame:
    # A scrambled index on purpose: labels must follow row positions, not index labels.
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=10, freq="1h", tz="UTC"),
            "close": CLOSE,
            "feature": np.arange(10.0),
        },
        index=[9, 3, 7, 1, 0, 2, 8, 4, 6, 5],
    )


def test_hand_computed_labels_with_horizon_two() -> None:
    frame = _ten_rows()
    out = prepare_target(frame, horizon=2, threshold=0.0)
    expected_fwd = [np.log(CLOSE[t + 2] / CLOSE[t]) for t in range(8)]
    assert list(out.columns) == ["timestamp", "close", "feature", *LABEL_COLUMNS]
    assert out.index.equals(pd.RangeIndex(8))
    np.testing.assert_allclose(out["fwd_return"], expected_fwd)
    # Rows 4 and 5 are exact ties (102 -> 102, 100 -> 100): zero counts as "not up".
    assert out["target"].tolist() == [0, 0, 1, 1, 0, 0, 0, 1]
    assert out["target"].dtype == np.int64
    assert out["t1"].tolist() == frame["timestamp"].iloc[2:].tolist()
    assert out["t1"].dtype == frame["timestamp"].dtype
    assert out["feature"].tolist() == list(np.arange(8.0))
    assert "target" not in frame.columns  # the input is left alone


def test_threshold_dead_zone_is_dropped_or_made_a_third_class() -> None:
    frame = _ten_rows()
    # |fwd|: .0101 .0200 .0299 .0101 0 0 .0099 .0392 -> only rows 1, 2 and 7 clear 0.015.
    dropped = prepare_target(frame, horizon=2, threshold=0.015, neutral="drop")
    assert dropped["feature"].tolist() == [1.0, 2.0, 7.0]
    assert dropped["target"].tolist() == [0, 1, 1]
    assert dropped.index.equals(pd.RangeIndex(3))
    assert dropped["t1"].tolist() == frame["timestamp"].iloc[[3, 4, 9]].tolist()
    classed = prepare_target(frame, horizon=2, threshold=0.015, neutral="class")
    assert classed["target"].tolist() == [1, 0, 2, 1, 1, 1, 1, 2]  # 0 down, 1 flat, 2 up
    assert len(classed) == 8


def test_zero_threshold_has_no_flat_class() -> None:
    out = prepare_target(_ten_rows(), horizon=2, threshold=0.0, neutral="class")
    assert out["target"].tolist() == [0, 0, 2, 2, 0, 0, 0, 2]


def test_last_horizon_rows_are_dropped_and_t1_is_h_bars_ahead() -> None:
    bars = make_raw_bars(50)
    out = prepare_target(bars, horizon=5, threshold=0.0)
    assert len(out) == 45
    assert out["timestamp"].tolist() == bars["timestamp"].iloc[:45].tolist()
    assert out["t1"].tolist() == bars["timestamp"].iloc[5:].tolist()
    assert (out["t1"] > out["timestamp"]).all()


def test_t1_spans_a_data_gap_in_real_time() -> None:
    bars = make_raw_bars(12).drop(index=[5, 6]).reset_index(drop=True)
    out = prepare_target(bars, horizon=2, threshold=0.0)
    # Row 3 ends two *rows* later, which is four bar intervals away across the gap.
    assert out.loc[3, "t1"] - out.loc[3, "timestamp"] == pd.Timedelta(minutes=60)


def test_no_label_uses_data_beyond_its_t1() -> None:
    bars = make_raw_bars(80, seed=4)
    horizon = 6
    base = prepare_target(bars, horizon=horizon, threshold=0.0005, neutral="class")
    for row in (0, 17, 40, 73):
        changed = bars.copy()
        after_t1 = changed["timestamp"] > base.loc[row, "t1"]
        changed.loc[after_t1, "close"] *= 3.0
        again = prepare_target(changed, horizon=horizon, threshold=0.0005, neutral="class")
        pd.testing.assert_series_equal(again.loc[row], base.loc[row])
        # Sanity: moving the close *at* t1 does change the label's return.
        at_t1 = bars.copy()
        at_t1.loc[at_t1["timestamp"] == base.loc[row, "t1"], "close"] *= 3.0
        moved = prepare_target(at_t1, horizon=horizon, threshold=0.0005, neutral="class")
        assert moved.loc[row, "fwd_return"] != base.loc[row, "fwd_return"]


def test_past_return_is_the_lagged_forward_return() -> None:
    bars = make_raw_bars(30)
    close = bars["close"].set_axis(np.arange(100, 130))
    past = past_return(close, 3)
    assert past.index.equals(close.index)
    assert past.iloc[:3].isna().all()
    fwd = prepare_target(bars, horizon=3, threshold=0.0)["fwd_return"]
    np.testing.assert_allclose(past.iloc[3:].to_numpy(), fwd.to_numpy())
    np.testing.assert_allclose(past_return(close.to_numpy(), 3).to_numpy(), past.to_numpy())
    assert past_return(close.iloc[:2], 3).isna().all()


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        (lambda f: f.drop(columns="close"), {}, "missing column"),
        (lambda f: f.assign(target=1), {}, "already has label"),
        (lambda f: f, {"horizon": 0}, "horizon"),
        (lambda f: f, {"horizon": True}, "horizon"),
        (lambda f: f, {"horizon": 10}, "need more than 10 rows"),
        (lambda f: f, {"threshold": -0.1}, "threshold"),
        (lambda f: f, {"threshold": float("nan")}, "threshold"),
        (lambda f: f, {"neutral": "keep"}, "neutral"),
        (lambda f: f.iloc[::-1], {}, "strictly increasing"),
        (lambda f: f.assign(close=f["close"].where(f.index != 0, -1.0)), {}, "positive"),
    ],
)
def test_bad_inputs_raise_clear_errors(
    change: Callable[[pd.DataFrame], pd.DataFrame], kwargs: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"horizon": 2, "threshold": 0.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        prepare_target(change(_ten_rows()), **arguments)


def test_past_return_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="horizon"):
        past_return(pd.Series([1.0, 2.0]), 0)
    with pytest.raises(ValueError, match="positive"):
        past_return(pd.Series([1.0, 0.0, 2.0]), 1)


def test_target_params_defaults_and_validation() -> None:
    params = TargetParams()
    assert (params.horizon, params.threshold, params.neutral) == (4, 0.0, "drop")
    assert TargetParams.model_validate({"horizon": 8, "neutral": "class"}).horizon == 8
    for bad in ({"horizon": 0}, {"threshold": -1e-4}, {"neutral": "keep"}, {"extra": 1}):
        with pytest.raises(ValidationError):
            TargetParams.model_validate(bad)
    with pytest.raises(ValidationError):
        params.horizon = 2


def test_labels_never_span_a_gap() -> None:
    from alphaloop.labels import spans_gap

    n, horizon = 40, 3
    frame = pd.DataFrame({
        "timestamp": pd.date_range("2024-01-01", periods=n, freq="15min", tz="UTC"),
        "close": np.linspace(100.0, 140.0, n),
        "segment": np.repeat([0, 1, 2], [15, 5, 20]),
    })
    labelled = prepare_target(frame, horizon, 0.0)
    seg = frame.set_index("timestamp")["segment"]
    start, end = seg.loc[labelled["timestamp"]].to_numpy(), seg.loc[labelled["t1"]].to_numpy()
    assert (start == end).all()  # every kept label lies inside one gap-free segment
    assert len(labelled) == (15 - horizon) + (5 - horizon) + (20 - horizon)
    assert spans_gap(frame, horizon).sum() == 2 * horizon
    kept = prepare_target(frame, horizon, 0.0, across_gaps="keep")
    assert len(kept) == n - horizon  # the caller masks them (evaluate keeps every bar)
