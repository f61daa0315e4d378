"""Coercion and cleaning rules for bars: pure functions over DataFrames.

Each rule returns the cleaned frame and how many rows it touched, so the validation report
can say exactly what was changed and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alphaloop.data import sessions
from alphaloop.data.schema import NUMERIC_COLUMNS, OPTIONAL_COLUMNS, PRICE_COLUMNS


@dataclass(frozen=True)
class RuleOutcome:
    """What a cleaning rule did: its name, the action taken and the rows it touched."""

    rule: str
    action: str
    rows: int
    details: dict[str, object] = field(default_factory=dict)


def coerce_numeric(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Convert price and volume columns to float64; count values that are not numbers.

    A value that was present but could not be parsed (``'abc'``) becomes NaN and is counted;
    values that were already missing are not counted here (the null rule sees them).
    """
    frame = raw.copy()
    unparseable: dict[str, int] = {}
    for name in NUMERIC_COLUMNS:
        original = frame[name]
        converted = pd.to_numeric(original, errors="coerce").astype("float64")
        unparseable[name] = int((original.notna() & converted.isna()).sum())
        frame[name] = converted
    for name in OPTIONAL_COLUMNS:  # checked only by the rule that uses them
        if name in frame:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame, unparseable


def add_grid_columns(frame: pd.DataFrame, interval: pd.Timedelta,
                     session: str) -> pd.DataFrame:
    """Helper columns the expectations check: grid offset, step in bars, in session."""
    out = frame.copy()
    ts = out["timestamp"]
    out["grid_offset_seconds"] = grid_offset_seconds(ts, interval, session)
    out["step_bars"] = step_in_bars(ts, interval, session)
    out["in_session"] = ~sessions.off_session(ts, interval, session)
    return out


def grid_offset_seconds(ts: pd.Series, interval: pd.Timedelta, session: str) -> pd.Series:
    """Seconds past the bar grid (0 on it). Intraday bars of an exchange calendar are
    aligned to its session opens, so there the session check alone decides."""
    if sessions.is_calendar(session) and interval < pd.Timedelta(days=1):
        return pd.Series(0.0, index=ts.index)
    return (ts - ts.dt.floor(interval)).dt.total_seconds()


def step_in_bars(ts: pd.Series, interval: pd.Timedelta, session: str) -> pd.Series:
    """Distance to the previous bar in the session's bars (see :mod:`alphaloop.data.sessions`)."""
    return sessions.step_in_bars(ts, interval, session)


def drop_invalid_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[RuleOutcome]]:
    """Drop rows that cannot be bars: missing values, inconsistent OHLC, negative volume."""
    outcomes: list[RuleOutcome] = []
    masks = {
        "not_null": frame[["timestamp", *NUMERIC_COLUMNS]].isna().any(axis=1),
        "positive_prices": (frame[list(PRICE_COLUMNS)] <= 0).any(axis=1),
        "high_ge_open_close": frame["high"] < frame[["open", "close", "low"]].max(axis=1),
        "low_le_open_close": frame["low"] > frame[["open", "close"]].min(axis=1),
        "non_negative_volume": frame["volume"] < 0,
    }
    bad = pd.Series(False, index=frame.index)
    for rule, mask in masks.items():
        newly = mask & ~bad
        if newly.any():
            outcomes.append(RuleOutcome(rule, "dropped rows", int(newly.sum())))
        bad |= mask
    return frame.loc[~bad], outcomes


def sort_and_dedupe(frame: pd.DataFrame, keep: str) -> tuple[pd.DataFrame, list[RuleOutcome]]:
    """Sort by time and keep one bar per timestamp (the later revision by default)."""
    outcomes: list[RuleOutcome] = []
    backwards = int((frame["timestamp"].diff() < pd.Timedelta(0)).sum())
    ordered = frame.sort_values("timestamp", kind="stable")
    if backwards:
        outcomes.append(RuleOutcome("increasing_timestamps", "sorted by timestamp", backwards))
    dup = ordered["timestamp"].duplicated(keep=keep)  # type: ignore[arg-type]
    if dup.any():
        outcomes.append(RuleOutcome("unique_timestamps", f"dropped duplicates (kept {keep})",
                                    int(dup.sum())))
    return ordered.loc[~dup], outcomes


def drop_off_grid(frame: pd.DataFrame, interval: pd.Timedelta,
                  session: str = "continuous") -> tuple[pd.DataFrame, list[RuleOutcome]]:
    """Drop partial bars stamped between grid points (e.g. 13:50:02 on a 15-minute grid)."""
    off = grid_offset_seconds(frame["timestamp"], interval, session) != 0
    if not off.any():
        return frame, []
    stamps = [t.isoformat() for t in frame.loc[off, "timestamp"].head(5)]
    return frame.loc[~off], [RuleOutcome("on_grid", "dropped off-grid partial bars",
                                         int(off.sum()), {"examples": stamps})]


def drop_off_session(frame: pd.DataFrame, interval: pd.Timedelta,
                     session: str) -> tuple[pd.DataFrame, list[RuleOutcome]]:
    """Drop bars at times the session does not have (weekends for fx, exchange holidays)."""
    off = sessions.off_session(frame["timestamp"], interval, session)
    if not off.any():
        return frame, []
    stamps = [t.isoformat() for t in frame.loc[off, "timestamp"].head(5)]
    return frame.loc[~off], [RuleOutcome("in_session", f"dropped bars outside the {session} "
                                         "session", int(off.sum()), {"examples": stamps})]


def mark_gaps(frame: pd.DataFrame, interval: pd.Timedelta,
              session: str) -> tuple[pd.DataFrame, list[RuleOutcome], list[dict[str, object]]]:
    """Mark bars that follow a gap and number the gap-free segments.

    Adds ``gap_before`` (missing bars before this one) and ``segment`` (0, 1, ...), so later
    stages can avoid computing returns or indicators across a hole.
    """
    out = frame.reset_index(drop=True).copy()
    steps = step_in_bars(out["timestamp"], interval, session).fillna(1.0)
    missing = (steps.round() - 1).clip(lower=0).astype("int64")
    out["gap_before"] = missing
    out["segment"] = (missing > 0).cumsum().astype("int64")
    gaps = [
        {"after": out["timestamp"].iloc[i - 1].isoformat(),
         "before": out["timestamp"].iloc[i].isoformat(),
         "missing_bars": int(missing.iloc[i])}
        for i in np.flatnonzero(missing.to_numpy() > 0)
    ]
    outcomes = []
    if gaps:
        outcomes.append(RuleOutcome("gaps", "marked gap_before and segment", len(gaps),
                                    {"missing_bars": int(missing.sum())}))
    return out, outcomes, gaps


def flag_zero_volume(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[RuleOutcome]]:
    """Flag bars with no traded volume; they are kept (prices still moved) but marked."""
    out = frame.copy()
    out["zero_volume"] = out["volume"] == 0
    count = int(out["zero_volume"].sum())
    return out, ([RuleOutcome("zero_volume", "flagged zero_volume", count)] if count else [])


def split_largest_segment(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[RuleOutcome]]:
    """With ``gap_policy: split``, keep only the longest gap-free segment."""
    sizes = frame["segment"].value_counts()
    keep = sizes.idxmax()
    dropped = int(len(frame) - sizes.max())
    out = frame.loc[frame["segment"] == keep].reset_index(drop=True)
    return out, [RuleOutcome("gaps", f"kept longest segment {keep}", dropped)]
