"""One bar at a time, the online features equal the batch pipeline on the same window."""

from __future__ import annotations

import numpy as np
import pytest

from alphaloop.features.config import FeatureConfig
from alphaloop.features.online import OnlineFeatures
from alphaloop.features.talib_set import build_features
from tests.conftest import make_raw_bars

COLUMNS = ["open", "high", "low", "close", "volume"]


def _assert_row_equal(row: dict[str, float], reference: dict[str, float]) -> None:
    worst = max(abs(row[c] - reference[c]) / max(1.0, abs(reference[c])) for c in reference)
    assert worst < 1e-9, worst


@pytest.mark.parametrize("config", [FeatureConfig(), FeatureConfig(
    rsi_periods=[5], ma_periods=[3, 8], candlestick_patterns=False, hilbert_cycles=False)])
def test_each_new_bar_equals_the_batch_pipeline_on_the_same_window(
        config: FeatureConfig) -> None:
    online = OnlineFeatures(config)
    window = online.window
    bars = make_raw_bars(3 * window + 17, seed=4)  # wraps the ring buffer more than once
    values = bars[COLUMNS].to_numpy()
    online.extend(values[: window - 2])
    assert not online.ready and online.update(bars[COLUMNS].iloc[window - 2]) is None
    last = window - 2
    for t in (window - 1, window, 2 * window + 3, len(bars) - 1):
        online.extend(values[last + 1: t])
        row = online.update(bars[COLUMNS].iloc[t])
        last = t
        batch = build_features(bars.iloc[t + 1 - window: t + 1].reset_index(drop=True), config)
        assert batch.frame.shape[0] == 1  # exactly one complete row on the window
        assert row is not None
        _assert_row_equal(row, batch.frame[batch.feature_columns].iloc[-1].to_dict())


def test_a_longer_window_follows_the_full_history_closely() -> None:
    bars = make_raw_bars(4000, seed=5)
    full = build_features(bars).frame.iloc[-1]
    short, long_ = OnlineFeatures(window=598), OnlineFeatures(window=3000)
    for online in (short, long_):
        online.extend(bars[COLUMNS].to_numpy()[:-1])
    a, b = short.update(bars[COLUMNS].iloc[-1]), long_.update(bars[COLUMNS].iloc[-1])
    assert a is not None and b is not None

    def worst(row: dict[str, float]) -> float:
        return max(abs(row[c] - full[c]) / max(1e-3, abs(full[c])) for c in row)

    assert worst(b) < 1e-6 < worst(a)  # EMA-type features remember where the window starts


def test_window_shorter_than_the_plan_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 598 bars"):
        OnlineFeatures(window=100)
    assert np.isfinite(list(OnlineFeatures().plan.feature_lookbacks.values())).all()


def test_fewer_bars_than_the_window_use_them_all_and_restart_forgets() -> None:
    online = OnlineFeatures(window=3000)
    bars = make_raw_bars(1500, seed=6)
    values = bars[COLUMNS].to_numpy()
    online.extend(values[:799])
    row = online.update(bars[COLUMNS].iloc[799])
    batch = build_features(bars.iloc[:800].reset_index(drop=True))
    assert row is not None and online.bars == 800
    _assert_row_equal(row, batch.frame[batch.feature_columns].iloc[-1].to_dict())
    online.restart()  # a gap: the batch pipeline starts a new segment here
    assert not online.ready
    online.extend(values[800:1399])
    row = online.update(bars[COLUMNS].iloc[1399])
    batch = build_features(bars.iloc[800:1400].reset_index(drop=True))
    assert row is not None
    _assert_row_equal(row, batch.frame[batch.feature_columns].iloc[-1].to_dict())
