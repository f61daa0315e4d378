import pandas as pd

from alphaloop.data import rules
from tests.conftest import make_raw_bars

INTERVAL = pd.Timedelta(minutes=15)


def test_coerce_counts_only_present_but_unreadable_values() -> None:
    raw = make_raw_bars(5).astype({"close": object})
    raw.loc[1, "close"] = "abc"
    raw.loc[2, "close"] = None
    typed, bad = rules.coerce_numeric(raw)
    assert bad["close"] == 1
    assert typed["close"].dtype == "float64"
    assert typed["close"].isna().sum() == 2


def test_drop_invalid_rows_names_each_rule_once() -> None:
    bars = make_raw_bars(10)
    bars.loc[1, "high"] = bars.loc[1, "open"] - 1  # high below open
    bars.loc[2, "high"] = bars.loc[2, "close"] + 5
    bars.loc[2, "low"] = bars.loc[2, "close"] + 1  # low above close, high still highest
    bars.loc[3, "volume"] = -5
    bars.loc[4, "open"] = None
    kept, outcomes = rules.drop_invalid_rows(bars)
    assert len(kept) == 6
    assert {o.rule: o.rows for o in outcomes} == {
        "not_null": 1, "high_ge_open_close": 1, "low_le_open_close": 1,
        "non_negative_volume": 1}


def test_dedupe_sorts_and_keeps_the_later_revision() -> None:
    bars = make_raw_bars(4)
    repeat = bars.iloc[[1]].assign(volume=999.0)
    shuffled = pd.concat([bars.iloc[[0, 2, 1, 3]], repeat], ignore_index=True)
    kept, outcomes = rules.sort_and_dedupe(shuffled, keep="last")
    assert kept["timestamp"].is_monotonic_increasing
    assert len(kept) == 4
    assert kept.loc[kept["timestamp"] == bars.loc[1, "timestamp"], "volume"].item() == 999.0
    assert {o.rule for o in outcomes} == {"increasing_timestamps", "unique_timestamps"}


def test_off_grid_partial_bars_are_dropped() -> None:
    bars = make_raw_bars(4)
    bars.loc[3, "timestamp"] = bars.loc[2, "timestamp"] + pd.Timedelta(seconds=62)
    kept, outcomes = rules.drop_off_grid(bars, INTERVAL)
    assert len(kept) == 3
    assert outcomes[0].rows == 1


def test_gaps_are_marked_with_segments() -> None:
    bars = make_raw_bars(10).drop(index=[4, 5, 6]).reset_index(drop=True)
    marked, outcomes, gaps = rules.mark_gaps(bars, INTERVAL, "continuous")
    assert marked["gap_before"].tolist() == [0, 0, 0, 0, 3, 0, 0]
    assert marked["segment"].tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert gaps[0]["missing_bars"] == 3
    assert outcomes[0].rows == 1


def test_weekends_are_not_gaps_for_business_day_sessions() -> None:
    days = pd.bdate_range("2024-01-01", periods=10, tz="UTC")  # spans a weekend
    bars = make_raw_bars(10, freq="1D").assign(timestamp=days)
    _marked, _, gaps = rules.mark_gaps(bars, pd.Timedelta(days=1), "business_days")
    assert gaps == []
    _, _, continuous_gaps = rules.mark_gaps(bars, pd.Timedelta(days=1), "continuous")
    assert len(continuous_gaps) == 1


def test_zero_volume_is_flagged_not_dropped() -> None:
    bars = make_raw_bars(5)
    bars.loc[[0, 3], "volume"] = 0.0
    flagged, outcomes = rules.flag_zero_volume(bars)
    assert len(flagged) == 5
    assert flagged["zero_volume"].tolist() == [True, False, False, True, False]
    assert outcomes[0].rows == 2


def test_split_keeps_the_longest_segment() -> None:
    bars = make_raw_bars(10).drop(index=[2]).reset_index(drop=True)
    marked, _, _ = rules.mark_gaps(bars, INTERVAL, "continuous")
    kept, outcomes = rules.split_largest_segment(marked)
    assert len(kept) == 7
    assert outcomes[0].rows == 2
