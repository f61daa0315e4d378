"""Exchange downloads: retries with backoff, one-line errors, the incremental bar cache.

A real ccxt binance client whose HTTP layer (``fetch``) is replaced: it serves klines of a
synthetic history and raises the errors ccxt's own HTTP layer raises (``RequestTimeout`` for
a timeout, ``BadSymbol`` for an unknown market).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import ccxt
import pandas as pd
import pytest

from alphaloop.config import CcxtSource
from alphaloop.data.exchange import cache_path, read_cache
from alphaloop.data.sources import SourceError, fetch_ccxt

STEP_MS = 15 * 60 * 1000
START_MS = 1_704_067_200_000  # 2024-01-01T00:00Z


class FakeBinance(ccxt.binance):  # type: ignore[misc]
    """Binance with a scripted HTTP layer: ``bars`` klines exist; ``failures`` come first."""

    def __init__(self, bars: int, failures: list[Exception] | None = None) -> None:
        super().__init__({"enableRateLimit": False})
        self.bars = bars
        self.failures = list(failures or [])
        self.starts: list[int] = []  # startTime of every kline request that was answered
        self.requests = 0
        self.set_markets([{
            "id": "BTCUSDT", "symbol": "BTC/USDT", "base": "BTC", "quote": "USDT",
            "baseId": "BTC", "quoteId": "USDT", "type": "spot", "spot": True, "margin": False,
            "swap": False, "future": False, "option": False, "contract": False,
            "active": True, "precision": {"amount": 0.0001, "price": 0.01}, "limits": {},
            "info": {}}])

    def fetch(self, url: str, method: str = "GET", headers: Any = None,
              body: Any = None) -> Any:
        self.requests += 1
        if self.failures:
            raise self.failures.pop(0)
        query = parse_qs(urlparse(url).query)
        start, limit = int(query["startTime"][0]), int(query["limit"][0])
        self.starts.append(start)
        first = max(0, (start - START_MS + STEP_MS - 1) // STEP_MS)
        return [[START_MS + i * STEP_MS, "100", "101", "99", str(100 + i), "7",
                 START_MS + (i + 1) * STEP_MS - 1, "0", 1, "0", "0", "0"]
                for i in range(first, min(self.bars, first + limit))]


def _at(bar: int) -> str:
    return pd.Timestamp(START_MS + bar * STEP_MS, unit="ms", tz="UTC").isoformat()


def _source(tmp_path: Path | None, **overrides: Any) -> CcxtSource:
    settings: dict[str, Any] = {"since": _at(0), "until": _at(100_000), "page_limit": 500,
                                "max_bars": 100_000, "retries": 3, "retry_wait_s": 0.0,
                                "cache_dir": str(tmp_path / "cache") if tmp_path else None}
    return CcxtSource(**{**settings, **overrides})


def _timeout() -> ccxt.RequestTimeout:
    return ccxt.RequestTimeout("binance GET https://api.binance.com/api/v3/klines?... "
                               "request timeout (10000 ms)")


def test_network_errors_are_retried_with_backoff(caplog: pytest.LogCaptureFixture) -> None:
    exchange = FakeBinance(bars=1200, failures=[_timeout(), _timeout()])
    with caplog.at_level(logging.WARNING, "alphaloop.data.exchange"):
        raw = fetch_ccxt(_source(None), exchange=exchange)
    assert len(raw) == 1200
    assert exchange.requests == 2 + 4  # two timeouts, three pages, an empty one (the end)
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 2 and "RequestTimeout" in retries[0]
    assert "attempt 1 of 3" in retries[0] and "attempt 2 of 3" in retries[1]


def test_backoff_grows_exponentially() -> None:
    from alphaloop.data.exchange import Pager

    pager = Pager(_source(None, retry_wait_s=1.0, retries=5), FakeBinance(bars=0),
                  lambda n: None)
    waits = []
    for attempt in range(1, 5):
        state = type("State", (), {"attempt_number": attempt})()
        waits.append(pager.attempts.wait(state))
    assert waits == [1.0, 2.0, 4.0, 8.0]


def test_network_failure_after_the_retries_is_one_line() -> None:
    exchange = FakeBinance(bars=1200, failures=[_timeout() for _ in range(10)])
    with pytest.raises(SourceError) as caught:
        fetch_ccxt(_source(None), exchange=exchange)
    message = str(caught.value)
    assert exchange.requests == 3
    assert "\n" not in message and len(message) < 400
    assert message.startswith("binance BTC/USDT 15m: network error after 3 attempts")
    assert "RequestTimeout" in message and "ingest.source.retries" in message


def test_exchange_errors_are_not_retried() -> None:
    exchange = FakeBinance(bars=1200, failures=[ccxt.BadSymbol("binance does not have "
                                                               "market symbol BTC/USDT")])
    with pytest.raises(SourceError, match=r"refused the request \(BadSymbol: .*"
                                          r"ingest\.source\.symbol") as caught:
        fetch_ccxt(_source(None), exchange=exchange)
    assert exchange.requests == 1
    assert "\n" not in str(caught.value)


def test_a_second_download_fetches_only_the_new_bars(tmp_path: Path) -> None:
    first = FakeBinance(bars=1200)
    raw = fetch_ccxt(_source(tmp_path, until=_at(1000)), exchange=first)
    assert len(raw) == 1000 and first.starts == [START_MS, START_MS + 500 * STEP_MS]
    later = FakeBinance(bars=1700)  # 700 more bars closed since
    raw = fetch_ccxt(_source(tmp_path, until=_at(1700)), exchange=later)
    assert later.starts == [START_MS + 1000 * STEP_MS, START_MS + 1500 * STEP_MS]
    fresh = fetch_ccxt(_source(None, until=_at(1700)), exchange=FakeBinance(bars=1700))
    pd.testing.assert_frame_equal(raw, fresh)  # cached + new bars = a full download
    again = FakeBinance(bars=1700)
    pd.testing.assert_frame_equal(fetch_ccxt(_source(tmp_path, until=_at(1700)),
                                             exchange=again), fresh)
    assert again.requests == 0  # everything asked for is cached


def test_an_earlier_start_fetches_only_the_head(tmp_path: Path) -> None:
    fetch_ccxt(_source(tmp_path, since=_at(600), until=_at(1000)),
               exchange=FakeBinance(bars=1200))
    head = FakeBinance(bars=1200)
    raw = fetch_ccxt(_source(tmp_path, since=_at(100), until=_at(1000)), exchange=head)
    assert head.starts == [START_MS + 100 * STEP_MS]  # bars 100..599, one page
    assert len(raw) == 900 and raw["timestamp"].is_monotonic_increasing


def test_bars_fetched_before_a_failure_are_kept(tmp_path: Path) -> None:
    source = _source(tmp_path, until=_at(1500))
    broken = FakeBinance(bars=1500)
    broken.failures = []

    def fail_on_third_page(url: str, *args: Any, **kwargs: Any) -> Any:
        if len(broken.starts) == 2:
            broken.requests += 1
            raise _timeout()
        return FakeBinance.fetch(broken, url, *args, **kwargs)

    broken.fetch = fail_on_third_page
    with pytest.raises(SourceError, match="network error"):
        fetch_ccxt(source, exchange=broken)
    kept = read_cache(cache_path(source))
    assert len(kept.bars) == 1000 and kept.span is not None
    retry = FakeBinance(bars=1500)
    raw = fetch_ccxt(source, exchange=retry)
    assert retry.starts == [START_MS + 1000 * STEP_MS]
    assert len(raw) == 1500


def test_max_bars_counts_cached_bars(tmp_path: Path) -> None:
    fetch_ccxt(_source(tmp_path, until=_at(800)), exchange=FakeBinance(bars=2000))
    capped = FakeBinance(bars=2000)
    raw = fetch_ccxt(_source(tmp_path, until=_at(2000), max_bars=900), exchange=capped)
    assert len(raw) == 900 and capped.starts == [START_MS + 800 * STEP_MS]
    assert raw["close"].astype(float).tolist()[-1] == 100 + 899
