"""The canonical bar schema every source produces and every stage consumes."""

from __future__ import annotations

import re

import pandas as pd

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
NUMERIC_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")
REQUIRED_COLUMNS: tuple[str, ...] = ("timestamp", *NUMERIC_COLUMNS)
# Metadata carried beside the bars: where they came from and the original UTC offset text.
META_COLUMNS: tuple[str, ...] = ("symbol", "timeframe", "utc_offset")
# Marks added by the cleaning rules, carried into features for downstream stages.
CLEANING_COLUMNS: tuple[str, ...] = ("gap_before", "segment", "zero_volume")
BAR_COLUMNS: tuple[str, ...] = (*REQUIRED_COLUMNS, *META_COLUMNS, *CLEANING_COLUMNS)
# Optional columns a source may carry: an adjusted close (Yahoo's "Adj Close").
OPTIONAL_COLUMNS: tuple[str, ...] = ("adj_close",)
# Names matched case-insensitively when column_map leaves a role out (first match wins).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp", "datetime", "date", "time", "open_time", "gmt time",
                  "time (utc)", "local time", "<date>"),
    "open": ("open", "<open>"),
    "high": ("high", "<high>"),
    "low": ("low", "<low>"),
    "close": ("close", "<close>"),
    # MetaTrader: <TICKVOL> (ticks) before <VOL> (exchange volume, 0 for FX).
    "volume": ("volume", "vol", "<tickvol>", "<vol>", "tick volume"),
    "adj_close": ("adj close", "adj_close", "adjclose", "adjusted close", "adjusted_close"),
    "time": ("<time>", "time"),  # only when "timestamp" took a date column beside it
}

_TIMEFRAME = re.compile(r"^(\d+)(s|m|h|d|w)$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_timeframe(timeframe: str) -> pd.Timedelta:
    """Turn a ccxt-style timeframe (``15m``, ``1h``, ``1d``) into a bar interval."""
    match = _TIMEFRAME.match(timeframe.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(
            f"timeframe {timeframe!r} is not understood: use <n><unit> with unit s, m, h, d or w"
        )
    return pd.Timedelta(seconds=int(match.group(1)) * _SECONDS[match.group(2)])


def timeframe_label(interval: pd.Timedelta) -> str:
    """The shortest ccxt-style label for an interval (inverse of :func:`parse_timeframe`)."""
    seconds = int(interval.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    raise ValueError(f"interval {interval} is not a whole number of seconds")


def infer_timeframe(timestamps: pd.Series) -> str:
    """The most common step between consecutive bars, as a timeframe label."""
    steps = timestamps.dropna().sort_values().diff().dropna()
    steps = steps[steps > pd.Timedelta(0)]
    if steps.empty:
        raise ValueError("cannot infer the timeframe: fewer than two distinct timestamps")
    return timeframe_label(steps.mode().iloc[0])
