"""Trading sessions: which bar times a market has, so closed hours are never called gaps.

``validate.session`` names one of:

- ``continuous``: every bar of the grid, 24/7 (crypto).
- ``fx``: Sunday 17:00 to Friday 17:00 New York time (22:00 UTC in the northern winter,
  21:00 UTC in summer), 24 hours a day in between; daily bars Monday to Friday.
- an exchange calendar of ``exchange_calendars`` (``XNYS``, ``XLON``, ``XTKS``, ...): its
  sessions, holidays, half days and trading hours. Intraday bars are expected at the
  calendar's ``trading_index`` (bars stamped at their open, aligned to the session open);
  daily bars on its sessions.
- ``business_days``: Monday to Friday without holidays or hours (kept for compatibility:
  holidays count as gaps, and for intraday bars only holes within a day are seen).

A bar's *step* is how many expected bars lie between it and the previous one (1 = adjacent),
so a weekend, a holiday or the night is a step of 1, while a missing hour inside a session is
a gap. Bars at times the session does not have are *off-session*.
"""

from __future__ import annotations

import warnings
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from alphaloop.data.schema import parse_timeframe

SIMPLE_SESSIONS: tuple[str, ...] = ("continuous", "fx", "business_days")
_SECONDS_PER_YEAR = 365.0 * 86_400.0
_TRADING_DAYS = 252.0
_FX_TZ = "America/New_York"
_FX_WEEKS_PER_YEAR = 52.0


def calendar_names() -> list[str]:
    """Exchange calendars ``exchange_calendars`` knows (``XNYS``, ``XLON``, ...)."""
    import exchange_calendars as xc

    return sorted(xc.get_calendar_names(include_aliases=True))


def check_session(name: str) -> str:
    """``name`` if it is a session alphaloop knows; otherwise a ValueError listing them."""
    if name in SIMPLE_SESSIONS or name in calendar_names():
        return name
    raise ValueError(f"unknown session {name!r}: use continuous, fx, business_days or an "
                     f"exchange calendar such as XNYS, XLON, XTKS (exchange_calendars names)")


def is_calendar(session: str) -> bool:
    return session not in SIMPLE_SESSIONS


@cache
def _calendar(name: str, first_year: int, last_year: int) -> Any:
    import exchange_calendars as xc

    with warnings.catch_warnings():
        # exchange_calendars 4.13 warns about pandas 3 deprecations it triggers itself.
        warnings.simplefilter("ignore")
        return xc.get_calendar(name, start=f"{first_year}-01-01", end=f"{last_year}-12-31")


def _calendar_for(name: str, ts: pd.Series | pd.DatetimeIndex) -> Any:
    stamps = pd.DatetimeIndex(ts).dropna()
    return _calendar(name, int(stamps.min().year), int(stamps.max().year))


def _daily(interval: pd.Timedelta) -> bool:
    return interval >= pd.Timedelta(days=1)


def _dates(ts: pd.Series, tz: str) -> pd.Series:
    """A daily bar's trading date: the UTC date of a midnight-UTC stamp (a date written
    without a time), else the date in the market's own zone."""
    utc = ts.dt.tz_convert("UTC")
    local = utc.dt.tz_convert(tz).dt.tz_localize(None).dt.normalize()
    plain = utc.dt.tz_localize(None).dt.normalize()
    return plain.where(utc == utc.dt.normalize(), local)


def expected_bars(ts: pd.Series, interval: pd.Timedelta, session: str) -> pd.DatetimeIndex:
    """Every bar time the session expects from the first to the last of ``ts``.

    Daily bars are returned as naive dates; intraday bars as UTC timestamps.
    """
    stamps = ts.dropna()
    if session == "continuous":
        return pd.date_range(stamps.min().floor(interval), stamps.max(), freq=interval)
    if is_calendar(session):
        cal = _calendar_for(session, stamps)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if _daily(interval):
                dates = _dates(stamps, str(cal.tz))
                return pd.DatetimeIndex(cal.sessions_in_range(dates.min(), dates.max()))
            first = cal.minute_to_session(stamps.min(), "next")
            last = cal.minute_to_session(stamps.max(), "previous")
            index = cal.trading_index(first, last, interval, intervals=False)
        return pd.DatetimeIndex(index).tz_convert("UTC")
    if _daily(interval):  # fx and business_days: Monday to Friday
        dates = _dates(stamps, "UTC")
        return pd.bdate_range(dates.min(), dates.max())
    grid = pd.date_range(stamps.min().floor(interval), stamps.max(), freq=interval)
    if session == "fx":
        return grid[fx_open(pd.Series(grid)).to_numpy()]
    return grid[grid.dayofweek < 5]


def fx_open(ts: pd.Series) -> pd.Series:
    """Whether a bar stamped at ``ts`` (its open) falls in the FX week."""
    local = ts.dt.tz_convert(_FX_TZ)
    day, hour = local.dt.dayofweek, local.dt.hour + local.dt.minute / 60.0
    closed = (day == 5) | ((day == 4) & (hour >= 17.0)) | ((day == 6) & (hour < 17.0))
    return ~closed


def positions(ts: pd.Series, interval: pd.Timedelta, session: str
              ) -> tuple[np.ndarray, np.ndarray]:
    """Each bar's index among the expected bars and whether it is one of them."""
    expected = expected_bars(ts, interval, session)
    keys = ts
    if _daily(interval) and session != "continuous":
        tz = str(_calendar_for(session, ts).tz) if is_calendar(session) else "UTC"
        keys = _dates(ts, tz)
    values = pd.DatetimeIndex(keys)
    where = expected.searchsorted(values)
    hit = np.zeros(len(values), dtype=bool)
    inside = where < len(expected)
    hit[inside] = expected[where[inside]] == values[inside]
    return where.astype(np.float64), hit


def step_in_bars(ts: pd.Series, interval: pd.Timedelta, session: str) -> pd.Series:
    """Expected bars from the previous bar to this one (1 = adjacent; NaN for the first)."""
    if len(ts) == 0 or ts.isna().all():
        return pd.Series(np.full(len(ts), np.nan), index=ts.index)
    if session == "continuous":
        return ts.diff().dt.total_seconds() / interval.total_seconds()
    if session == "business_days" and not _daily(interval):
        return _business_intraday_steps(ts, interval)
    where, _ = positions(ts, interval, session)
    steps = np.r_[np.nan, np.diff(where)]
    steps[np.r_[True, ts.isna().to_numpy()[1:] | ts.isna().to_numpy()[:-1]]] = np.nan
    return pd.Series(steps, index=ts.index)


def _business_intraday_steps(ts: pd.Series, interval: pd.Timedelta) -> pd.Series:
    # No hours known: within a day count grid steps; across days count skipped weekdays.
    within = ts.diff().dt.total_seconds() / interval.total_seconds()
    days = ts.dt.tz_convert(None).dt.normalize().to_numpy().astype("datetime64[D]")
    across = np.full(len(ts), np.nan)
    if len(ts) > 1:
        across[1:] = np.busday_count(days[:-1], days[1:]).astype(float)
    same_day = pd.Series(np.r_[False, days[1:] == days[:-1]], index=ts.index)
    return within.where(same_day, pd.Series(across, index=ts.index))


def off_session(ts: pd.Series, interval: pd.Timedelta, session: str) -> pd.Series:
    """Bars at a time the session does not have (a holiday, a weekend, outside hours)."""
    if session == "continuous" or len(ts) == 0:
        return pd.Series(False, index=ts.index)
    if session == "business_days":
        return pd.Series(ts.dt.dayofweek.to_numpy() >= 5, index=ts.index)
    _, hit = positions(ts, interval, session)
    return pd.Series(~hit, index=ts.index)


def bars_per_year(timeframe: str, session: str = "continuous",
                  span: tuple[pd.Timestamp, pd.Timestamp] | None = None,
                  hours_per_session: float = 24.0) -> float:
    """Bars per year of a timeframe in a session, used to annualise Sharpe and volatility.

    ``continuous``: 365 days of 24 h; ``fx``: 52 weeks of 5 x 24 h (6,240 hours);
    ``business_days``: 252 days (of ``hours_per_session`` hours for intraday bars); an
    exchange calendar: its own count of expected bars per year, averaged over the whole
    calendar years of ``span`` (default: the last complete year).
    """
    interval = parse_timeframe(timeframe)
    seconds = interval.total_seconds()
    days = seconds / 86_400.0
    if session == "continuous":
        return _SECONDS_PER_YEAR / seconds
    if session == "fx":
        trading_days = _FX_WEEKS_PER_YEAR * 5.0
        return trading_days * 86_400.0 / seconds if days < 1 else _per_day_bars(trading_days,
                                                                               days)
    if session == "business_days":
        if days < 1.0:
            return _TRADING_DAYS * hours_per_session * 3600.0 / seconds
        return _per_day_bars(_TRADING_DAYS, days)
    check_session(session)
    return _calendar_bars_per_year(session, interval, span)


def _per_day_bars(trading_days: float, days: float) -> float:
    # A daily bar is one trading day; a calendar week holds 5 of them.
    return trading_days / (days if days < 7.0 else days * 5.0 / 7.0)


def _calendar_bars_per_year(session: str, interval: pd.Timedelta,
                            span: tuple[pd.Timestamp, pd.Timestamp] | None) -> float:
    if span is None:
        year = pd.Timestamp.now(tz="UTC").year - 1
        first, last = year, year
    else:
        first, last = (pd.Timestamp(t).year for t in span)
    cal = _calendar(session, first, last)
    start = max(pd.Timestamp(f"{first}-01-01"), cal.first_session)
    end = min(pd.Timestamp(f"{last}-12-31"), cal.last_session)
    years = (end - start).days / 365.25
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if _daily(interval):
            count = len(cal.sessions_in_range(start, end)) / (interval / pd.Timedelta(days=1))
        else:
            count = len(cal.trading_index(start, end, interval, intervals=False))
    return float(count / years)
