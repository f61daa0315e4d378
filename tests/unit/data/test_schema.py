import pandas as pd
import pytest

from alphaloop.data.schema import (
    infer_timeframe,
    parse_timeframe,
    split_timestamps,
    timeframe_label,
)


@pytest.mark.parametrize(("label", "minutes"), [("15m", 15), ("1h", 60), ("1d", 1440)])
def test_timeframe_round_trip(label: str, minutes: int) -> None:
    interval = parse_timeframe(label)
    assert interval == pd.Timedelta(minutes=minutes)
    assert timeframe_label(interval) == label


@pytest.mark.parametrize("bad", ["15", "m15", "0m", "15 minutes", ""])
def test_bad_timeframe_is_named(bad: str) -> None:
    with pytest.raises(ValueError, match="timeframe"):
        parse_timeframe(bad)


def test_split_timestamps_keeps_offsets_and_converts_to_utc() -> None:
    text = pd.Series(["2021-10-30 12:00:00+01:00", "2021-11-01 12:00:00+00:00",
                      "not a date", "2021-11-02 12:00:00"])
    parsed, offsets = split_timestamps(text)
    assert parsed.iloc[0] == pd.Timestamp("2021-10-30 11:00:00", tz="UTC")
    assert parsed.iloc[1] == pd.Timestamp("2021-11-01 12:00:00", tz="UTC")
    assert pd.isna(parsed.iloc[2])
    assert parsed.iloc[3] == pd.Timestamp("2021-11-02 12:00:00", tz="UTC")
    assert list(offsets) == ["+01:00", "+00:00", "", ""]


def test_split_timestamps_reads_us_style_dates() -> None:
    parsed, _ = split_timestamps(pd.Series(["1/4/1999", "1/5/1999"]))
    assert list(parsed.dt.day) == [4, 5]


def test_infer_timeframe_uses_most_common_step() -> None:
    ts = pd.Series(pd.to_datetime(["2024-01-01 00:00", "2024-01-01 00:15", "2024-01-01 00:30",
                                   "2024-01-01 02:00", "2024-01-01 02:15"], utc=True))
    assert infer_timeframe(ts) == "15m"
