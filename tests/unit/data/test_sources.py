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
                        until="2025-01-01T00:00:00Z", page_limit=1000, max_bars=10_000,
                        cache_dir=None)
    raw = fetch_ccxt(source, exchange=exchange, progress=seen.append)
    assert len(raw) == 2500
    assert raw["timestamp"].is_unique and raw["timestamp"].is_monotonic_increasing
    assert raw["timestamp"].iloc[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert seen == [1000, 2000, 2500]
    assert all("klines" in url for url in calls)


def test_ccxt_source_stops_at_max_bars() -> None:
    exchange, calls = _stub_binance(total_bars=5000)
    source = CcxtSource(since="2024-01-01T00:00:00Z", until="2025-01-01T00:00:00Z",
                        page_limit=500, max_bars=1200, cache_dir=None)
    raw = fetch_ccxt(source, exchange=exchange)
    assert len(raw) == 1200
    assert len(calls) == 3


def test_ccxt_source_with_no_data_is_a_clear_error() -> None:
    exchange, _ = _stub_binance(total_bars=0)
    with pytest.raises(SourceError, match="returned no 15m bars"):
        fetch_ccxt(CcxtSource(until="2025-01-01T00:00:00Z", cache_dir=None), exchange=exchange)


def _yahoo_file(tmp_path) -> tuple[object, pd.DataFrame]:  # type: ignore[no-untyped-def]
    """A Yahoo-style daily file: Close and Adj Close side by side (a 2:1 split adjusted)."""
    frame = pd.DataFrame({
        "Date": ["2024-01-02", "2024-01-03", "2024-01-04"],
        "Open": ["100", "101", "51"], "High": ["102", "103", "52"], "Low": ["99", "100", "50"],
        "Close": ["101", "102", "51.5"], "Adj Close": ["50.5", "51", "51.5"],
        "Volume": ["10", "12", "30"],
    })
    path = tmp_path / "AAPL.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_yahoo_header_maps_close_and_adj_close_without_collision(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path, frame = _yahoo_file(tmp_path)
    raw = load_bars(FileSource(path=str(path)))
    assert raw["close"].tolist() == frame["Close"].tolist()
    assert raw["adj_close"].tolist() == frame["Adj Close"].tolist()


def test_yahoo_close_mapped_to_the_adjusted_column_works_and_warns(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    path, frame = _yahoo_file(tmp_path)
    raw = load_bars(FileSource(path=str(path), column_map={"close": "Adj Close"}))
    # The earlier crash ("Buffer has wrong number of dimensions") came from two 'close'
    # columns; now each role is one column, the one asked for.
    assert raw["close"].tolist() == frame["Adj Close"].tolist()
    assert "adj_close" not in raw.columns
    assert "mix adjusted and raw prices" in caplog.text and "adjust_from" in caplog.text


def test_a_mapped_column_that_is_not_there_shows_the_real_header(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path, _ = _yahoo_file(tmp_path)
    with pytest.raises(SourceError, match=r"AAPL\.csv: column_map\.close names 'Adj_Close'.*"
                       r"header is: Date, Open, High, Low, Close, Adj Close, Volume"):
        load_bars(FileSource(path=str(path), column_map={"close": "Adj_Close"}))


def test_a_missing_role_names_the_file_its_header_and_the_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from alphaloop.data.validation import DataValidationError

    path = tmp_path / "quotes.csv"
    pd.DataFrame({"Date": ["2024-01-02"], "Open": [1], "High": [1], "Low": [1],
                  "Last": [1]}).to_csv(path, index=False)
    with pytest.raises(DataValidationError, match=r"quotes\.csv: no column for close, volume; "
                       r"the file's header is: Date, Open, High, Low, Last.*column_map"):
        load_bars(FileSource(path=str(path)))


def test_metatrader_tab_export_with_separate_date_and_time(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "EURUSD_H1.csv"
    path.write_text("<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
                    "2024.01.02\t00:00:00\t1.1040\t1.1045\t1.1035\t1.1042\t812\t0\t2\n"
                    "2024.01.02\t01:00:00\t1.1042\t1.1050\t1.1040\t1.1049\t640\t0\t2\n")
    raw = load_bars(FileSource(path=str(path), timezone="Europe/Athens"))
    assert raw["timestamp"].tolist() == [pd.Timestamp("2024-01-01 22:00", tz="UTC"),
                                         pd.Timestamp("2024-01-01 23:00", tz="UTC")]
    assert raw["volume"].tolist() == ["812", "640"]  # tick volume: <VOL> is all zeros
    assert raw["timeframe"].iloc[0] == "1h"


def test_ambiguous_file_dates_are_refused_naming_the_source_setting(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from alphaloop.data.timestamps import TimestampError

    path = tmp_path / "export.csv"
    pd.DataFrame({"Date": ["01/02/2024", "02/02/2024", "03/02/2024"], "Open": [1, 1, 1],
                  "High": [1, 1, 1], "Low": [1, 1, 1], "Close": [1, 1, 1],
                  "Volume": [1, 1, 1]}).to_csv(path, index=False)
    with pytest.raises(TimestampError, match=r"export\.csv column 'Date'.*ingest\.source"):
        load_bars(FileSource(path=str(path)))
    raw = load_bars(FileSource(path=str(path), dayfirst=True))
    assert raw["timestamp"].dt.day.tolist() == [1, 2, 3]
