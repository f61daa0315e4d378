"""DVC stage ``ingest``: load bars from the configured source into the raw layout."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rich.progress import Progress

from alphaloop.config import CcxtSource, IngestParams, load_params
from alphaloop.data.sources import fetch_ccxt, load_bars
from pipelines.common import INGEST_REPORT, RAW_BARS, run_stage, write_frame, write_json

log = logging.getLogger(__name__)


def run(params: IngestParams, out: Path = RAW_BARS,
        report_path: Path | None = INGEST_REPORT) -> dict[str, Any]:
    """Load bars, write them to ``out`` and return what was written."""
    source = params.source
    if isinstance(source, CcxtSource):
        with Progress(transient=True) as bar:
            task = bar.add_task(f"fetching {source.symbol} from {source.exchange}",
                                total=source.max_bars)
            raw = fetch_ccxt(source, progress=lambda n: bar.update(task, completed=n))
    else:
        raw = load_bars(source)
    write_frame(raw, out)
    summary = {
        "source": source.model_dump(),
        "rows": len(raw),
        "symbol": str(raw["symbol"].iloc[0]) if len(raw) else None,
        "timeframe": str(raw["timeframe"].iloc[0]) if len(raw) else None,
        "first": str(raw["timestamp"].min()) if "timestamp" in raw else None,
        "last": str(raw["timestamp"].max()) if "timestamp" in raw else None,
        "output": str(out),
    }
    if report_path is not None:
        write_json(report_path, summary)
    log.info("ingested %s rows of %s %s into %s", f"{len(raw):,}", summary["symbol"],
             summary["timeframe"], out)
    return summary


def main() -> None:
    run_stage(lambda: run(load_params().ingest))


if __name__ == "__main__":
    main()
