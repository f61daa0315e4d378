"""DVC stage ``validate``: GX suite, stop on unusable data, clean, write bars and report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from alphaloop.config import load_params
from alphaloop.data.sources import BUNDLED, bundled_path, read_table, to_raw_bars
from alphaloop.data.timestamps import TimestampSettings
from alphaloop.stages.data import validate
from alphaloop.workspace import read_frame
from pipelines.common import WS, run_stage


def load_raw(path: str | Path, column_map: dict[str, str] | None = None,
             symbol: str | None = None, timeframe: str | None = None,
             settings: TimestampSettings | None = None) -> pd.DataFrame:
    """Read bars to validate: an ingested file, any CSV/Parquet, or ``bundled:<name>``."""
    text = str(path)
    if text.startswith("bundled:"):
        name = text.removeprefix("bundled:")
        table = read_table(bundled_path(name))
        _, _, default_symbol, default_tf, default_map = BUNDLED[name]
        return to_raw_bars(table, column_map or default_map, symbol or default_symbol,
                           timeframe or default_tf, settings, where=text)
    table = read_table(path)
    if "utc_offset" in table.columns and not column_map:
        return table  # already in the raw layout written by the ingest stage
    if timeframe is None and "timeframe" in table.columns and len(table):
        timeframe = str(table["timeframe"].iloc[0])
    if symbol is None:
        symbol = str(table["symbol"].iloc[0]) if "symbol" in table.columns and len(table) \
            else Path(text).stem
    return to_raw_bars(table, column_map or {}, symbol, timeframe, settings, where=text)


def main() -> None:
    run_stage(lambda: validate(load_params().validate_, read_frame(WS.raw_bars),
                               str(WS.raw_bars), WS))


if __name__ == "__main__":
    main()
