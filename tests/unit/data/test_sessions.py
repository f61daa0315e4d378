"""Sessions: closed hours, weekends and holidays are not gaps; a hole inside a session is."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alphaloop.config import ValidateParams
from alphaloop.data import sessions
from alphaloop.data.validation import validate_bars
from tests.conftest import make_raw_bars

PARAMS = ValidateParams(min_rows=10)


def _bars_at(stamps: pd.DatetimeIndex, timeframe: str) -> pd.DataFrame:
    raw = make_raw_bars(len(stamps))
    raw["timestamp"] = pd.Series(stamps.tz_convert("UTC"))
    raw["timeframe"] = timeframe
    return raw


def _nyse_hours(start: str, end: str) -> pd.DatetimeIndex:
    # Hourly bars as a US broker stamps them: 09:30, 10:30, ... New York time, on trading days.
    days = pd.bdate_range(start, end)
    hours = [d + pd.Timedelta(hours=9, minutes=30) + pd.Timedelta(hours=h)
             for d in days for h in range(7)]
    return pd.DatetimeIndex(hours).tz_localize("America/New_York")


def test_exchange_holidays_and_half_days_are_not_gaps() -> None:
    # 2024-07-01 .. 07-12: July 4th is a holiday, July 3rd closes at 13:00.
    stamps = _nyse_hours("2024-07-01", "2024-07-12")
    closed = (stamps.date == pd.Timestamp("2024-07-04").date()) | (
        (stamps.date == pd.Timestamp("2024-07-03").date()) & (stamps.hour >= 13))
    outcome = validate_bars(_bars_at(stamps[~closed], "1h"), PARAMS.model_copy(
        update={"session": "XNYS"}))
    assert outcome.report.flaws["gaps"] == 0 and outcome.report.segments == 1
    assert outcome.report.flaws["off_session_bars"] == 0
    steps = sessions.step_in_bars(pd.Series(stamps[~closed].tz_convert("UTC")),
                                  pd.Timedelta("1h"), "continuous")
    assert (steps > 1).sum() == 8  # a 24/7 view: 9 trading days, 8 nights and weekends


def test_a_missing_hour_inside_a_session_is_a_gap() -> None:
    stamps = _nyse_hours("2024-07-08", "2024-07-12")
    hole = stamps[(stamps.day == 10) & (stamps.hour == 11)]
    outcome = validate_bars(_bars_at(stamps.drop(hole), "1h"), PARAMS.model_copy(
        update={"session": "XNYS"}))
    assert outcome.report.flaws["gaps"] == 1
    assert outcome.report.gaps[0]["missing_bars"] == 1
    assert outcome.report.gaps[0]["before"].startswith("2024-07-10T16:30")  # 12:30 in NY
    assert outcome.report.segments == 2


def test_daily_bars_on_an_exchange_calendar() -> None:
    days = pd.DatetimeIndex(sessions._calendar("XNYS", 2023, 2024).sessions_in_range(
        "2023-01-03", "2024-06-28")).tz_localize("UTC")
    outcome = validate_bars(_bars_at(days, "1d"), PARAMS.model_copy(update={"session": "XNYS"}))
    assert outcome.report.flaws["gaps"] == 0  # New Year, MLK, Good Friday, ... are closed
    missing = validate_bars(_bars_at(days.delete(100), "1d"),
                            PARAMS.model_copy(update={"session": "XNYS"}))
    assert missing.report.flaws["gaps"] == 1


def test_an_fx_week_has_no_weekend_gaps_and_weekend_bars_are_off_session() -> None:
    # Two FX weeks of hourly bars, winter and summer time (17:00 New York = 22:00 / 21:00 UTC).
    for start, end in (("2024-01-07 22:00", "2024-01-19 21:00"),
                       ("2024-07-07 21:00", "2024-07-19 20:00")):
        grid = pd.date_range(start, end, freq="1h", tz="UTC")
        week = grid[sessions.fx_open(pd.Series(grid)).to_numpy()]
        assert len(week) == 2 * 120  # 5 x 24 hours a week
        fx = validate_bars(_bars_at(week, "1h"), PARAMS.model_copy(update={"session": "fx"}))
        assert fx.report.flaws["gaps"] == 0 and fx.report.segments == 1
        crypto_view = validate_bars(_bars_at(week, "1h"), PARAMS)
        assert crypto_view.report.flaws["gaps"] == 1  # the weekend, as a 24/7 market sees it
    # A vendor's flat weekend bars (Dukascopy exports them) are outside the session.
    all_hours = pd.date_range("2024-01-07 22:00", "2024-01-12 21:00", freq="1h", tz="UTC")
    assert sessions.off_session(pd.Series(all_hours), pd.Timedelta("1h"), "fx").sum() == 0
    saturday = pd.Series(pd.date_range("2024-01-13 00:00", periods=24, freq="1h", tz="UTC"))
    assert sessions.off_session(saturday, pd.Timedelta("1h"), "fx").all()


def test_unknown_session_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="XNYS"):
        ValidateParams(session="NYSE-ish")
    assert ValidateParams(session="XLON").session == "XLON"


@pytest.mark.parametrize(("timeframe", "session", "expected"), [
    ("1h", "continuous", 8760.0), ("1h", "fx", 6240.0), ("1d", "fx", 260.0),
    ("15m", "continuous", 35040.0),
])
def test_bars_per_year_of_simple_sessions(timeframe: str, session: str, expected: float) -> None:
    assert sessions.bars_per_year(timeframe, session) == pytest.approx(expected)


def test_bars_per_year_of_an_exchange_calendar_counts_its_sessions() -> None:
    span = (pd.Timestamp("2019-01-01"), pd.Timestamp("2023-12-31"))
    daily = sessions.bars_per_year("1d", "XNYS", span)
    hourly = sessions.bars_per_year("1h", "XNYS", span)
    assert 251 < daily < 253
    # 7 hourly bars (09:30 .. 15:30) per full day, fewer on half days.
    assert 7 * daily - 10 < hourly < 7 * daily
    assert np.isfinite(sessions.bars_per_year("1d", "XLON", span))
