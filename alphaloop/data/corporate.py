"""Corporate actions and bad ticks: jumps far outside a series' own volatility.

A *jump* is a one-bar close-to-close log return whose robust z-score
``(r - median(r)) / (1.4826 * MAD(r))`` exceeds ``validate.jump_z``. A jump is *split-like*
when the gap from the previous close to the bar's open is within ``validate.split_tolerance``
(relative) of a split ratio: 2:1, 3:1, 4:1, 5:1, 10:1, 20:1, 3:2 or a reverse split (1:2 ...
1:20, 2:3). Unadjusted splits are the usual cause; a bad tick or a real crash can look the
same, which is why every detection and every adjustment is listed in the validation report.

Back-adjustment keeps the newest prices as they are and scales everything before an action:
prices are multiplied by the action's factor and volume divided by it, so a 2:1 split halves
the older prices and doubles the older volume.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from alphaloop.data.schema import PRICE_COLUMNS

# (new shares, old shares): the price falls by new/old at the split.
SPLIT_RATIOS: tuple[tuple[int, int], ...] = (
    (2, 1), (3, 1), (4, 1), (5, 1), (10, 1), (20, 1), (3, 2),
    (1, 2), (1, 3), (1, 4), (1, 5), (1, 10), (1, 20), (2, 3),
)


@dataclass(frozen=True)
class Jump:
    """One bar far outside the series' volatility, and the split it looks like (if any)."""

    timestamp: str
    row: int
    log_return: float
    z: float
    gap_ratio: float  # previous close / this open
    split: str | None  # e.g. "2:1"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Adjustment:
    """A back-adjustment: every bar before ``timestamp`` scaled by ``factor``."""

    timestamp: str
    factor: float  # multiplies older prices; older volume is divided by it
    reason: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def robust_z(close: pd.Series) -> pd.Series:
    """Robust z-score of each one-bar log return (NaN for the first bar)."""
    r = pd.Series(np.log(close.to_numpy(dtype=np.float64)), index=close.index).diff()
    body = r.dropna()
    if body.empty:
        return r * np.nan
    centre = float(body.median())
    scale = 1.4826 * float((body - centre).abs().median())
    if not scale > 0:
        scale = float(body.std())  # mostly unchanged prices: MAD is 0
    if not scale > 0:
        return r * 0.0
    return (r - centre) / scale


def split_like(gap_ratio: float, tolerance: float) -> str | None:
    """The split ratio ``gap_ratio`` (previous close / open) matches, if any."""
    if not (gap_ratio > 0 and math.isfinite(gap_ratio)):
        return None
    best = min(SPLIT_RATIOS, key=lambda s: abs(math.log(gap_ratio * s[1] / s[0])))
    return f"{best[0]}:{best[1]}" if abs(math.log(gap_ratio * best[1] / best[0])) \
        <= math.log1p(tolerance) else None


def find_jumps(bars: pd.DataFrame, z_limit: float, tolerance: float) -> list[Jump]:
    """Bars whose one-bar move has ``|robust z| > z_limit``, in time order."""
    z = robust_z(bars["close"]).to_numpy()
    close, opens = (bars[c].to_numpy(dtype=np.float64) for c in ("close", "open"))
    jumps = []
    for i in np.flatnonzero(np.abs(np.nan_to_num(z)) > z_limit):
        ratio = float(close[i - 1] / opens[i])
        jumps.append(Jump(bars["timestamp"].iloc[i].isoformat(), int(i),
                          round(float(np.log(close[i] / close[i - 1])), 6),
                          round(float(z[i]), 2), round(ratio, 6),
                          split_like(ratio, tolerance)))
    return jumps


def split_factor(split: str) -> float:
    """Price factor of a split written ``new:old`` (``"2:1"`` -> 0.5 for the older prices)."""
    new, old = (float(x) for x in split.split(":"))
    return old / new


def back_adjust(bars: pd.DataFrame, adjustments: list[Adjustment]) -> pd.DataFrame:
    """Scale prices (and inversely volume) before each adjustment's timestamp."""
    out = bars.copy()
    factor = np.ones(len(out))
    stamps = out["timestamp"]
    for adj in adjustments:
        factor[(stamps < pd.Timestamp(adj.timestamp)).to_numpy()] *= adj.factor
    for column in PRICE_COLUMNS:
        out[column] = out[column].to_numpy(dtype=np.float64) * factor
    out["volume"] = out["volume"].to_numpy(dtype=np.float64) / factor
    return out


def split_adjustments(jumps: list[Jump]) -> list[Adjustment]:
    """One back-adjustment per split-like jump, by its matched ratio."""
    return [Adjustment(j.timestamp, split_factor(j.split), f"split-like move {j.split} "
                       f"(previous close / open = {j.gap_ratio:.4f}, z = {j.z:+.1f})")
            for j in jumps if j.split is not None]


def adjust_from_adj_close(bars: pd.DataFrame) -> tuple[pd.DataFrame, list[Adjustment]]:
    """Scale open/high/low/close by ``adj_close / close`` and volume inversely, bar by bar.

    Returns the adjusted bars and the dates where the factor changes by more than 0.1% (the
    splits and dividends the adjusted column encodes).
    """
    factor = (bars["adj_close"].astype("float64") / bars["close"].astype("float64")).to_numpy()
    out = bars.copy()
    for column in PRICE_COLUMNS:
        out[column] = out[column].to_numpy(dtype=np.float64) * factor
    out["volume"] = out["volume"].to_numpy(dtype=np.float64) / factor
    # Between consecutive bars the older factor relative to the newer is the action's factor.
    change = factor[:-1] / factor[1:]
    steps = np.flatnonzero(np.abs(np.log(change)) > np.log1p(0.001))
    adjustments = [Adjustment(bars["timestamp"].iloc[i + 1].isoformat(), round(float(change[i]), 6),
                              "adj_close factor changes") for i in steps]
    return out, adjustments


def actions_adjustments(bars: pd.DataFrame, actions: pd.DataFrame) -> list[Adjustment]:
    """Adjustments from a user's splits/dividends table.

    Columns: ``date`` (the ex-date: the first bar at the new basis) and ``split`` (``"2:1"``,
    ``"2/1"`` or ``2``) and/or ``dividend`` (cash per share). A dividend's factor is
    ``1 - dividend / close`` of the last bar before the ex-date.

    Raises:
        ValueError: A row that cannot be read, naming it.
    """
    table = actions.rename(columns={c: str(c).strip().lower() for c in actions.columns})
    if "date" not in table.columns or not ({"split", "dividend"} & set(table.columns)):
        raise ValueError("the actions file needs a 'date' column and a 'split' and/or "
                         f"'dividend' column; its header is: {', '.join(map(str, actions.columns))}")
    dates = pd.to_datetime(table["date"], utc=True, errors="coerce", format="ISO8601")
    out = []
    for i, date in enumerate(dates):
        if pd.isna(date):
            raise ValueError(f"actions file row {i}: date {table['date'].iloc[i]!r} is not an "
                             "ISO date (YYYY-MM-DD)")
        out += _row_adjustments(bars, table.iloc[i], date, i)
    return out


def _row_adjustments(bars: pd.DataFrame, row: pd.Series, date: pd.Timestamp,
                     i: int) -> list[Adjustment]:
    out = []
    split = str(row.get("split", "") or "").strip()
    if split and split.lower() != "nan":
        text = split.replace("/", ":") if (":" in split or "/" in split) else f"{split}:1"
        try:
            factor = split_factor(text)
        except ValueError:
            raise ValueError(f"actions file row {i}: split {split!r} is not a ratio like 2:1")\
                from None
        out.append(Adjustment(date.isoformat(), factor, f"split {text} (actions file)"))
    dividend = pd.to_numeric(pd.Series([row.get("dividend")]), errors="coerce").iloc[0]
    if pd.notna(dividend) and dividend > 0:
        before = bars.loc[bars["timestamp"] < date, "close"]
        if before.empty:
            return out
        factor = 1.0 - float(dividend) / float(before.iloc[-1])
        out.append(Adjustment(date.isoformat(), round(factor, 8),
                              f"dividend {float(dividend):g} (actions file)"))
    return out
