import pandas as pd
import pytest

from alphaloop.data.schema import (
    infer_timeframe,
    parse_timeframe,
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


def test_infer_timeframe_uses_most_common_step() -> None:
    ts = pd.Series(pd.to_datetime(["2024-01-01 00:00", "2024-01-01 00:15", "2024-01-01 00:30",
                                   "2024-01-01 02:00", "2024-01-01 02:15"], utc=True))
    assert infer_timeframe(ts) == "15m"
