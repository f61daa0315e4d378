"""DVC stage ``validate``: GX suite, stop on unusable data, clean, write bars and report."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd

from alphaloop.config import ValidateParams, load_params
from alphaloop.data.sources import BUNDLED, bundled_path, read_table, to_raw_bars
from alphaloop.data.validation import ValidationReport, validate_bars
from pipelines.common import (
    DATA_DOCS,
    RAW_BARS,
    VALIDATED_BARS,
    VALIDATION_REPORT,
    run_stage,
    write_frame,
    write_json,
)

log = logging.getLogger(__name__)


def load_raw(path: str | Path, column_map: dict[str, str] | None = None,
             symbol: str | None = None, timeframe: str | None = None) -> pd.DataFrame:
    """Read bars to validate: an ingested file, any CSV/Parquet, or ``bundled:<name>``."""
    text = str(path)
    if text.startswith("bundled:"):
        name = text.removeprefix("bundled:")
        table = read_table(bundled_path(name))
        _, _, default_symbol, default_tf, default_map = BUNDLED[name]
        return to_raw_bars(table, column_map or default_map, symbol or default_symbol,
                           timeframe or default_tf)
    table = read_table(path)
    if "utc_offset" in table.columns and not column_map:
        return table  # already in the raw layout written by the ingest stage
    if timeframe is None and "timeframe" in table.columns and len(table):
        timeframe = str(table["timeframe"].iloc[0])
    if symbol is None:
        symbol = str(table["symbol"].iloc[0]) if "symbol" in table.columns and len(table) \
            else Path(text).stem
    return to_raw_bars(table, column_map or {}, symbol, timeframe)


def run(params: ValidateParams, raw: pd.DataFrame, source: str,
        out: Path | None = VALIDATED_BARS, report_path: Path | None = VALIDATION_REPORT,
        docs_dir: Path | None = DATA_DOCS) -> ValidationReport:
    """Validate raw bars and write the outputs asked for; raises ``DataValidationError``."""
    if docs_dir is not None and docs_dir.exists():
        shutil.rmtree(docs_dir)  # GX appends runs to a docs site; keep only this one
    outcome = validate_bars(raw, params, source=source, docs_dir=docs_dir)
    if out is not None:
        write_frame(outcome.bars, out)
    if report_path is not None:
        write_json(report_path, outcome.report.to_dict())
    report = outcome.report
    log.info("validated %s: %s rows in, %s rows out, %d gap-free segments", source,
             f"{report.rows_in:,}", f"{report.rows_out:,}", report.segments)
    return report


def main() -> None:
    run_stage(lambda: run(load_params().validate_, load_raw(RAW_BARS), str(RAW_BARS)))


if __name__ == "__main__":
    main()
