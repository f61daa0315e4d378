"""The readable summary ``make run`` ends with: what was produced, where, and what was found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from pipelines.common import (
    DATA_DOCS,
    FEATURES,
    FEATURES_REPORT,
    INGEST_REPORT,
    RAW_BARS,
    VALIDATED_BARS,
    VALIDATION_REPORT,
    read_json,
)


def _size(path: Path) -> str:
    if not path.exists():
        return "missing"
    size = sum(p.stat().st_size for p in path.rglob("*")) if path.is_dir() else path.stat().st_size
    return f"{size / 1e6:.1f} MB"


def _load(path: Path) -> dict[str, Any] | None:
    return read_json(path) if path.exists() else None


def render(console: Console) -> bool:
    """Print the summary; return False when a stage's report is missing."""
    ingest, validation, features = (_load(INGEST_REPORT), _load(VALIDATION_REPORT),
                                    _load(FEATURES_REPORT))
    console.rule("[bold]alphaloop run summary")
    outputs = Table(title="Outputs", show_lines=False)
    for col in ("stage", "rows", "path", "size"):
        outputs.add_column(col)
    outputs.add_row("ingest", _rows(ingest, "rows"), str(RAW_BARS), _size(RAW_BARS))
    outputs.add_row("validate", _rows(validation, "rows_out"), str(VALIDATED_BARS),
                    _size(VALIDATED_BARS))
    outputs.add_row("validate (GX data docs)", "", str(DATA_DOCS / "index.html"),
                    _size(DATA_DOCS))
    outputs.add_row("features", _rows(features, "rows_out"), str(FEATURES), _size(FEATURES))
    console.print(outputs)
    if ingest:
        console.print(f"Data: {ingest['symbol']} {ingest['timeframe']} bars, "
                      f"{ingest['first']} → {ingest['last']}")
    if validation:
        flaws = Table(title=f"Validation of {validation['source']} "
                            f"({validation['rows_in']:,} rows in)")
        flaws.add_column("flaw")
        flaws.add_column("count", justify="right")
        for name, count in validation["flaws"].items():
            flaws.add_row(name.replace("_", " "), f"{count:,}")
        console.print(flaws)
        offsets = ", ".join(f"{k}: {v:,}" for k, v in validation["utc_offsets"].items())
        console.print(f"UTC offsets in the source: {offsets or 'none recorded'}")
    if features:
        console.print(f"Features: {features['n_features']} columns, "
                      f"{features['warmup_rows_dropped']} warm-up rows dropped. "
                      "Top by |Spearman| vs next-bar return: "
                      + ", ".join(f"{f['feature']} ({f['spearman']:+.3f})"
                                  for f in features["top_features"][:5]))
    return all(r is not None for r in (ingest, validation, features))


def _rows(report: dict[str, Any] | None, key: str) -> str:
    return f"{report[key]:,}" if report else "not run"


def main() -> None:
    if not render(Console()):
        raise SystemExit("some stage reports are missing: run `dvc repro` first")


if __name__ == "__main__":
    main()
