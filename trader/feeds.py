"""Market feeds: stored bars replayed at a chosen speed, or closed bars polled through ccxt.

A feed yields :class:`BarEvent` in time order across symbols. ``history(symbol)`` gives the
bars before the first event, which the trader uses to fill its feature window (a cold start
needs ``trader.feature_window`` bars of history).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

BAR_COLUMNS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class BarEvent:
    symbol: str
    timeframe: str
    time: pd.Timestamp  # the bar's timestamp (UTC), as the ingest stage stamps it
    bar: dict[str, float]  # open, high, low, close, volume


class ReplayFeed:
    """The newest ``bars`` of each symbol's stored bars, replayed at ``speed`` bars a second.

    Args:
        frames: Symbol -> canonical bars (``timestamp`` + OHLCV), oldest first.
        timeframe: The bars' timeframe.
        bars: How many of the newest bars to replay; the rest is history.
        speed: Bars per second (0: no waiting).
        start_after: Skip events at or before this time (a restarted replay resumes).
    """

    def __init__(self, frames: Mapping[str, pd.DataFrame], timeframe: str, bars: int,
                 speed: float = 0.0, start_after: Mapping[str, pd.Timestamp] | None = None
                 ) -> None:
        self.timeframe, self.speed = timeframe, speed
        self._history: dict[str, pd.DataFrame] = {}
        events: list[BarEvent] = []
        for symbol, frame in frames.items():
            if len(frame) <= bars:
                raise ValueError(f"{symbol}: {len(frame)} bars stored, cannot replay the "
                                 f"newest {bars} with history before them (trader.replay.bars)")
            self._history[symbol] = frame.iloc[: len(frame) - bars].reset_index(drop=True)
            after = (start_after or {}).get(symbol)
            tail = frame.iloc[len(frame) - bars:]
            stamps = pd.DatetimeIndex(tail["timestamp"])
            values = tail[list(BAR_COLUMNS)].to_numpy(dtype=float)
            for stamp, row in zip(stamps, values, strict=True):
                if after is not None and stamp <= after:
                    continue
                events.append(BarEvent(symbol, timeframe, stamp,
                                       dict(zip(BAR_COLUMNS, row.tolist(), strict=True))))
        self._events = sorted(events, key=lambda e: (e.time, e.symbol))
        self._frames = frames

    def __len__(self) -> int:
        return len(self._events)

    def history(self, symbol: str) -> pd.DataFrame:
        return self._history[symbol]

    async def __aiter__(self) -> AsyncIterator[BarEvent]:
        started = time.monotonic()
        for n, event in enumerate(self._events):
            if self.speed > 0:
                wait = started + n / self.speed - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            yield event


class CcxtFeed:
    """Closed bars of each symbol polled through ccxt (``fetch_ohlcv``), newest first seen.

    Args:
        exchange: A ccxt (async) exchange instance.
        symbols: Exchange symbols, e.g. ``BTC/USDT``.
        timeframe: ccxt timeframe.
        poll_s: Seconds between polls.
        history_bars: Bars fetched before the first event (the feature window).
    """

    def __init__(self, exchange: Any, symbols: list[str], timeframe: str, poll_s: float = 10.0,
                 history_bars: int = 3000) -> None:
        self.exchange, self.symbols, self.timeframe = exchange, symbols, timeframe
        self.poll_s, self.history_bars = poll_s, history_bars
        self._last: dict[str, float] = {}
        self._history: dict[str, pd.DataFrame] = {}

    def history(self, symbol: str) -> pd.DataFrame:
        return self._history[symbol]

    async def prime(self, page: int = 1000) -> None:
        """Fetch each symbol's history (closed bars only), in pages of ``page`` bars."""
        step_ms = self.exchange.parse_timeframe(self.timeframe) * 1000
        for symbol in self.symbols:
            since = self.exchange.milliseconds() - (self.history_bars + 1) * step_ms
            rows: list[list[float]] = []
            while True:
                batch = await self._closed(symbol, limit=page, since=since)
                rows.extend(r for r in batch if not rows or r[0] > rows[-1][0])
                if len(batch) < page:
                    break
                since = int(batch[-1][0]) + 1
            self._history[symbol] = _frame(rows[-self.history_bars:])
            if rows:
                self._last[symbol] = rows[-1][0]

    async def __aiter__(self) -> AsyncIterator[BarEvent]:
        while True:
            for symbol in self.symbols:
                for row in await self._closed(symbol, limit=5):
                    if row[0] > self._last.get(symbol, -1):
                        self._last[symbol] = row[0]
                        frame = _frame([row])
                        yield BarEvent(symbol, self.timeframe, frame["timestamp"].iloc[0],
                                       {c: float(frame[c].iloc[0]) for c in BAR_COLUMNS})
            await asyncio.sleep(self.poll_s)

    async def _closed(self, symbol: str, limit: int,
                      since: int | None = None) -> list[list[float]]:
        rows = await self.exchange.fetch_ohlcv(symbol, self.timeframe, since=since, limit=limit)
        step_ms = self.exchange.parse_timeframe(self.timeframe) * 1000
        now_ms = self.exchange.milliseconds()
        return [r for r in rows if r[0] + step_ms <= now_ms]  # the open bar is not a bar yet


def _frame(rows: list[list[float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["ms", *BAR_COLUMNS])
    frame.insert(0, "timestamp", pd.to_datetime(frame.pop("ms"), unit="ms", utc=True))
    return frame
