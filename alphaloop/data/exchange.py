"""Bars from an exchange through ccxt: paged, retried with backoff, cached incrementally.

Each ``fetch_ohlcv`` page is retried on network errors (timeouts, an exchange that is down or
rate-limiting: ccxt's ``NetworkError`` family) with exponential backoff by tenacity; an
exchange error (unknown symbol, bad request) is not retried. Either failure becomes one
:class:`~alphaloop.data.sources.SourceError` line naming the exchange, the market and the
setting to check.

With a cache (``ingest.source.cache_dir``) every closed bar fetched is kept in one Parquet
file per exchange, symbol and timeframe, with the span of time it covers. A later download
of an overlapping span fetches only the bars before and after that span, and what was
fetched before a failure is kept, so a retry never downloads a page twice. A request
disjoint from the cached span starts a new cache for that market.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alphaloop import progress as progress_report
from alphaloop.config import CcxtSource
from alphaloop.data.schema import NUMERIC_COLUMNS, parse_timeframe

log = logging.getLogger(__name__)

COLUMNS = ["timestamp", *NUMERIC_COLUMNS]  # timestamp in epoch milliseconds
_MAX_WAIT_S = 30.0


@dataclass(frozen=True)
class Span:
    """Bars of ``[start, end)`` in epoch milliseconds, every bar of that span fetched."""

    start: int
    end: int

    def overlaps(self, other: Span) -> bool:
        return self.start <= other.end and other.start <= self.end


@dataclass
class Cached:
    """The bars kept for one market and the span they cover (``None``: nothing kept)."""

    bars: pd.DataFrame
    span: Span | None


def cache_path(source: CcxtSource) -> Path | None:
    """``<cache_dir>/<exchange>/<SYMBOL>_<timeframe>.parquet``, or None without a cache."""
    if source.cache_dir is None:
        return None
    name = source.symbol.replace("/", "-").replace(":", "-")
    return Path(source.cache_dir) / source.exchange / f"{name}_{source.timeframe}.parquet"


def read_cache(path: Path | None) -> Cached:
    empty = Cached(pd.DataFrame(columns=COLUMNS), None)
    if path is None or not path.exists():
        return empty
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = json.loads((table.schema.metadata or {}).get(b"alphaloop", b"{}"))
    if "start" not in meta:
        return empty
    return Cached(table.to_pandas(), Span(int(meta["start"]), int(meta["end"])))


def write_cache(path: Path | None, cached: Cached) -> None:
    if path is None or cached.span is None:
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(cached.bars[COLUMNS], preserve_index=False)
    span = json.dumps({"start": cached.span.start, "end": cached.span.end})
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"alphaloop": span.encode()})
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)


def _merge(cached: Cached, rows: list[list[float]], span: Span) -> Cached:
    """The cache with ``rows`` (covering ``span``) added; a disjoint span starts afresh."""
    new = pd.DataFrame(rows, columns=COLUMNS)
    if cached.span is None or not cached.span.overlaps(span):
        bars, covered = new, span
    else:
        bars = pd.concat([cached.bars, new], ignore_index=True)
        covered = Span(min(cached.span.start, span.start), max(cached.span.end, span.end))
    bars = bars.drop_duplicates("timestamp", keep="last").sort_values("timestamp")
    bars["timestamp"] = bars["timestamp"].astype(np.int64)
    return Cached(bars.reset_index(drop=True), covered)


class Pager:
    """Pages ``fetch_ohlcv`` over one span, each page retried on network errors."""

    def __init__(self, source: CcxtSource, exchange: Any,
                 on_rows: Callable[[int], None]) -> None:
        import ccxt
        import tenacity

        self.source, self.exchange, self.on_rows = source, exchange, on_rows
        self.reached = 0  # the first bar time not yet fetched in the current span
        self.step_ms = int(parse_timeframe(source.timeframe).total_seconds() * 1000)
        self.attempts = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(source.retries),
            wait=tenacity.wait_exponential(multiplier=source.retry_wait_s, max=_MAX_WAIT_S),
            retry=tenacity.retry_if_exception_type(ccxt.NetworkError),
            before_sleep=self._log_retry, reraise=True)

    def _log_retry(self, state: Any) -> None:
        exc = state.outcome.exception()
        log.warning("%s %s: %s (attempt %d of %d); retrying in %.1f s", self.source.exchange,
                    self.source.symbol, one_line(exc), state.attempt_number,
                    self.source.retries, state.next_action.sleep)

    def fetch(self, span: Span, limit: int, rows: list[list[float]]) -> None:
        """Append the bars of ``span`` (at most ``limit``) to ``rows``.

        Afterwards, and also when a page failed for good, ``covered(span)`` is the part of
        the span known to be fetched: all of it when it was paged through, else up to the
        first bar not yet asked for.
        """
        since, wanted = span.start, len(rows) + limit
        self.reached = since
        while since < span.end and len(rows) < wanted:
            page_limit = min(self.source.page_limit, wanted - len(rows))
            page = self.attempts(self.exchange.fetch_ohlcv, self.source.symbol,
                                 self.source.timeframe, since=since, limit=page_limit)
            page = [row[:6] for row in page if since <= row[0] < span.end]
            if not page:
                return
            rows.extend(page)
            since = int(page[-1][0]) + self.step_ms
            self.reached = since
            self.on_rows(len(rows))

    def covered(self, span: Span) -> Span:
        return Span(span.start, min(self.reached, span.end))


def one_line(exc: BaseException) -> str:
    """An exception as one short line (ccxt messages carry URLs and whole bodies)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}{'...' if len(text) > 200 else ''}"


def download(source: CcxtSource, exchange: Any, until: int,
             progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Closed bars of ``[since, until)`` (the first ``max_bars``), from cache and exchange.

    Returns:
        Columns ``timestamp`` (epoch ms), ``open``..``volume``, one row per bar in time order.

    Raises:
        ccxt.BaseError: The exchange failed for good (what was fetched is cached first).
    """
    path = cache_path(source)
    cached = read_cache(path)
    want = Span(to_ms(source.since), until)
    downloaded = 0

    def on_rows(n: int) -> None:
        progress_report.report(f"{source.exchange} {source.symbol} bars", downloaded + n,
                               source.max_bars)
        if progress is not None:
            progress(downloaded + n)

    pager = Pager(source, exchange, on_rows)
    for span in _missing(cached, want):
        need = source.max_bars - _count(cached, want.start, span.start)
        if need <= 0:
            break
        rows: list[list[float]] = []
        try:
            pager.fetch(span, need, rows)
        finally:
            # Kept even when a page failed: the next attempt starts where this one stopped.
            cached = _merge(cached, rows, pager.covered(span))
            downloaded += len(rows)
            write_cache(path, cached)
    bars = cached.bars[(cached.bars["timestamp"] >= want.start)
                       & (cached.bars["timestamp"] < want.end)].head(source.max_bars)
    if path is not None:
        log.info("%s %s %s: %d bars, %d downloaded, %d from the cache (%s)", source.exchange,
                 source.symbol, source.timeframe, len(bars), downloaded,
                 max(len(bars) - downloaded, 0), path)
    return bars.reset_index(drop=True)


def _count(cached: Cached, start: int, end: int) -> int:
    stamps = cached.bars["timestamp"]
    return int(((stamps >= start) & (stamps < end)).sum())


def _missing(cached: Cached, want: Span) -> list[Span]:
    """The parts of ``want`` the cache does not cover (all of it when disjoint)."""
    have = cached.span
    if have is None or not have.overlaps(want):
        return [want]
    parts = []
    if want.start < have.start:
        parts.append(Span(want.start, have.start))
    if want.end > have.end:
        parts.append(Span(have.end, want.end))
    return parts


def to_ms(value: str) -> int:
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value // 1_000_000)
