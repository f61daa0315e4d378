from urllib.parse import parse_qs, urlparse

import ccxt
import pandas as pd
import pytest

from alphaloop.config import BundledSource, CcxtSource, FileSource
from alphaloop.data.sources import SourceError, fetch_ccxt, load_bars

STEP_MS = 15 * 60 * 1000
START_MS = 1_704_067_200_000  # 2024-01-01T00:00Z


def test_bundled_btc_bars_are_real_and_keep_offsets() -> None:
    raw = load_bars(BundledSource(dataset="btc-usd-15m"))
    assert len(raw) == 8721
    assert raw["timestamp"].dt.tz is not None
    assert set(raw["utc_offset"].unique()) == {"+00:00", "+01:00"}
    assert (raw["symbol"] == "BTC-USD").all() and (raw["timeframe"] == "15m").all()


@pytest.mark.parametrize("dataset", ["sp500-1d", "nasdaq-1d"])
def test_bundled_equity_indices_load(dataset: str) -> None:
    raw = load_bars(BundledSource(dataset=dataset))
    assert len(raw) == 5031
    assert raw["timestamp"].iloc[0] == pd.Timestamp("1999-01-04", tz="UTC")
    assert (raw["timeframe"] == "1d").all()


def test_file_source_with_column_map_and_inferred_timeframe(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bars.csv"
    pd.DataFrame({
        "When": ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z"],
        "o": [1, 2, 3], "h": [2, 3, 4], "l": [0.5, 1, 2], "c": [1.5, 2.5, 3.5],
        "Vol": [10, 20, 30],
    }).to_csv(path, index=False)
    source = FileSource(path=str(path), symbol="ETH-USD", column_map={
        "timestamp": "When", "open": "o", "high": "h", "low": "l", "close": "c",
        "volume": "Vol"})
    raw = load_bars(source)
    assert list(raw.columns[:6]) == ["timestamp", "utc_offset", "open", "high", "low", "close"]
    assert raw["timeframe"].iloc[0] == "1h"
    assert raw["close"].tolist() == ["1.5", "2.5", "3.5"]  # text stays text until validation


def test_parquet_file_source(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bars.parquet"
    pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=3, freq="1D"),
                  "open": [1.0, 2, 3], "high": [2.0, 3, 4], "low": [0.5, 1, 2],
                  "close": [1.5, 2.5, 3.5], "volume": [1.0, 2, 3]}).to_parquet(path)
    raw = load_bars(FileSource(path=str(path), timeframe="1d"))
    assert str(raw["timestamp"].dt.tz) == "UTC"
    assert raw["close"].dtype == "float64"


def test_missing_file_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SourceError, match="not found"):
        load_bars(FileSource(path=str(tmp_path / "nope.csv")))


def _stub_binance(total_bars: int) -> tuple[ccxt.Exchange, list[str]]:
    """A real ccxt binance client whose HTTP layer serves synthetic klines."""
    exchange = ccxt.binance({"enableRateLimit": False})
    calls: list[str] = []

    def fetch(url: str, method: str = "GET", headers: object = None, body: object = None):  # type: ignore[no-untyped-def]
        calls.append(url)
        query = parse_qs(urlparse(url).query)
        start, limit = int(query["startTime"][0]), int(query["limit"][0])
        first = max(0, (start - START_MS) // STEP_MS)
        stop = min(total_bars, first + limit)
        return [[START_MS + i * STEP_MS, "100", "101", "99", "100.5", "7",
                 START_MS + (i + 1) * STEP_MS - 1, "0", 1, "0", "0", "0"]
                for i in range(first, stop)]

    exchange.fetch = fetch
    exchange.set_markets([{
        "id": "BTCUSDT", "symbol": "BTC/USDT", "base": "BTC", "quote": "USDT",
        "baseId": "BTC", "quoteId": "USDT", "type": "spot", "spot": True, "margin": False,
        "swap": False, "future": False, "option": False, "contract": False, "active": True,
        "precision": {"amount": 0.0001, "price": 0.01}, "limits": {}, "info": {}}])
    return exchange, calls


def test_ccxt_source_pages_until_history_ends() -> None:
    exchange, calls = _stub_binance(total_bars=2500)
    seen: list[int] = []
    source = CcxtSource(symbol="BTC/USDT", timeframe="15m", since="2024-01-01T00:00:00Z",
                        until="2025-01-01T00:00:00Z", page_limit=1000, max_bars=10_000)
    raw = fetch_ccxt(source, exchange=exchange, progress=seen.append)
    assert len(raw) == 2500
    assert raw["timestamp"].is_unique and raw["timestamp"].is_monotonic_increasing
    assert raw["timestamp"].iloc[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert seen == [1000, 2000, 2500]
    assert all("klines" in url for url in calls)


def test_ccxt_source_stops_at_max_bars() -> None:
    exchange, calls = _stub_binance(total_bars=5000)
    source = CcxtSource(since="2024-01-01T00:00:00Z", until="2025-01-01T00:00:00Z",
                        page_limit=500, max_bars=1200)
    raw = fetch_ccxt(source, exchange=exchange)
    assert len(raw) == 1200
    assert len(calls) == 3


def test_ccxt_source_with_no_data_is_a_clear_error() -> None:
    exchange, _ = _stub_binance(total_bars=0)
    with pytest.raises(SourceError, match="returned no 15m bars"):
        fetch_ccxt(CcxtSource(until="2025-01-01T00:00:00Z"), exchange=exchange)
