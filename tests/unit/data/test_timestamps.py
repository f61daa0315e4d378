"""Timestamp columns read with one layout per file, decided from evidence or refused."""

from __future__ import annotations

import pandas as pd
import pytest

from alphaloop.data.timestamps import TimestampError, TimestampSettings, parse_timestamps


def _utc(*stamps: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(s, tz="UTC") for s in stamps]


def _daily(start: str, days: int, layout: str) -> pd.Series:
    dates = pd.date_range(start, periods=days, freq="D")
    return pd.Series(dates.strftime(layout))


def test_day_first_dates_are_read_day_first_from_a_field_above_12() -> None:
    text = _daily("2024-03-01", 20, "%d/%m/%Y")  # 01/03 ... 20/03: days 13+ decide
    parsed = parse_timestamps(text)
    assert parsed.layout.startswith("day-first")
    assert list(parsed.values) == list(pd.date_range("2024-03-01", periods=20, tz="UTC"))


def test_month_first_dates_are_read_month_first_from_a_field_above_12() -> None:
    text = _daily("2024-03-01", 20, "%m/%d/%Y")
    parsed = parse_timestamps(text)
    assert parsed.layout.startswith("month-first")
    assert list(parsed.values) == list(pd.date_range("2024-03-01", periods=20, tz="UTC"))


def test_days_up_to_12_are_never_read_month_first_when_the_file_is_day_first() -> None:
    # The trap: 01/03 .. 12/03 read month-first would be January .. December.
    parsed = parse_timestamps(_daily("2024-03-01", 31, "%d/%m/%Y"))
    assert (parsed.values.dt.month == 3).all()


def test_row_order_decides_when_no_field_exceeds_12() -> None:
    # 12/01/2024 (12 Jan) then 01/02/2024 (1 Feb): only day-first keeps the rows in order.
    parsed = parse_timestamps(pd.Series(["11/01/2024", "12/01/2024", "01/02/2024"]))
    assert parsed.layout.startswith("day-first") and "time order" in parsed.layout
    assert list(parsed.values) == _utc("2024-01-11", "2024-01-12", "2024-02-01")


def test_coverage_decides_for_hourly_bars_in_the_first_days_of_a_month() -> None:
    stamps = pd.date_range("2024-05-01", "2024-05-10 23:00", freq="h")
    parsed = parse_timestamps(pd.Series(stamps.strftime("%d/%m/%Y %H:%M")))
    assert parsed.layout.startswith("day-first") and "span empty" in parsed.layout
    assert list(parsed.values) == list(stamps.tz_localize("UTC"))


def test_ambiguous_dates_are_refused_naming_the_settings() -> None:
    text = pd.Series(["01/02/2024", "02/02/2024", "03/02/2024"])  # Feb 1-3 or Jan 2 - Mar 2
    with pytest.raises(TimestampError, match=r"bars\.csv.*dayfirst.*timestamp_format"):
        parse_timestamps(text, where="bars.csv")
    explicit = parse_timestamps(text, TimestampSettings(dayfirst=True))
    assert list(explicit.values) == _utc("2024-02-01", "2024-02-02", "2024-02-03")
    formatted = parse_timestamps(text, TimestampSettings(format="%m/%d/%Y"))
    assert list(formatted.values) == _utc("2024-01-02", "2024-02-02", "2024-03-02")


def test_mixed_layouts_are_refused_with_examples() -> None:
    with pytest.raises(TimestampError, match=r"mixes layouts.*2024-01-02.*03/01/2024"):
        parse_timestamps(pd.Series(["2024-01-02", "2024-01-03", "03/01/2024"]))
    with pytest.raises(TimestampError, match="mixes day-first and month-first"):
        parse_timestamps(pd.Series(["13/01/2024", "01/14/2024"]))
    with pytest.raises(TimestampError, match="with a UTC offset and without"):
        parse_timestamps(pd.Series(["2024-01-02 10:00+00:00", "2024-01-02 11:00"]))


@pytest.mark.parametrize(("values", "unit"), [
    ([1_704_067_200, 1_704_070_800], "s"),
    ([1_704_067_200_000, 1_704_070_800_000], "ms"),
    (["1704067200", "1704070800"], "s"),
    (["1704067200000", "1704070800000"], "ms"),
])
def test_unix_seconds_and_milliseconds(values: list[object], unit: str) -> None:
    parsed = parse_timestamps(pd.Series(values))
    assert parsed.layout == f"unix {unit}"
    assert list(parsed.values) == _utc("2024-01-01 00:00", "2024-01-01 01:00")


def test_unix_times_of_mixed_magnitude_are_refused() -> None:
    with pytest.raises(TimestampError, match="timestamp_unit"):
        parse_timestamps(pd.Series([1_704_067_200, 1_704_070_800_000]))


def test_naive_local_times_cross_dst_changes_in_utc_order() -> None:
    zone = TimestampSettings(timezone="America/New_York")
    spring = parse_timestamps(pd.Series(["2024-03-10 00:00", "2024-03-10 01:00",
                                         "2024-03-10 03:00", "2024-03-10 04:00"]), zone)
    # 02:00 does not exist that night: the four bars are four consecutive UTC hours.
    assert list(spring.values) == _utc("2024-03-10 05:00", "2024-03-10 06:00",
                                       "2024-03-10 07:00", "2024-03-10 08:00")
    autumn = parse_timestamps(pd.Series(["2024-11-03 00:00", "2024-11-03 01:00",
                                         "2024-11-03 01:00", "2024-11-03 02:00"]), zone)
    # 01:00 comes twice (EDT, then EST): the order tells them apart.
    assert list(autumn.values) == _utc("2024-11-03 04:00", "2024-11-03 05:00",
                                       "2024-11-03 06:00", "2024-11-03 07:00")


def test_a_time_in_the_spring_gap_is_unreadable_not_shifted() -> None:
    parsed = parse_timestamps(pd.Series(["2024-03-10 01:00", "2024-03-10 02:30"]),
                              TimestampSettings(timezone="America/New_York"))
    assert pd.isna(parsed.values.iloc[1])


def test_iso_offsets_are_kept_and_converted_and_junk_becomes_nat() -> None:
    text = pd.Series(["2021-10-30 12:00:00+01:00", "2021-11-01 12:00:00+00:00", "not a date"])
    parsed = parse_timestamps(text)
    assert list(parsed.values[:2]) == _utc("2021-10-30 11:00", "2021-11-01 12:00")
    assert pd.isna(parsed.values.iloc[2])
    assert list(parsed.offsets) == ["+01:00", "+00:00", ""]


@pytest.mark.parametrize(("text", "expected"), [
    (["2024.01.02 00:00", "2024.01.02 01:00"], ("2024-01-02 00:00", "2024-01-02 01:00")),
    (["13.01.2024 00:00:00.000 GMT+0200", "13.01.2024 01:00:00.000 GMT+0200"],
     ("2024-01-12 22:00", "2024-01-12 23:00")),
    (["20240102", "20240103"], ("2024-01-02", "2024-01-03")),
])
def test_metatrader_dukascopy_and_compact_layouts(text: list[str],
                                                  expected: tuple[str, str]) -> None:
    assert list(parse_timestamps(pd.Series(text)).values) == _utc(*expected)
