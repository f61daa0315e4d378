"""Data stages: ingest, validate, features."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from alphaloop.config import CcxtSource, IngestParams, ValidateParams
from alphaloop.data.validation import ValidationReport, validate_bars
from alphaloop.features import FeatureConfig, build_features, feature_importance_proxy
from alphaloop.workspace import Workspace, write_frame, write_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageOutput:
    """A stage's frame and its report (what the report JSON holds)."""

    frame: pd.DataFrame
    report: dict[str, Any]


def ingest(params: IngestParams, ws: Workspace | None,
           progress: Callable[[int], None] | None = None,
           window_days: float | None = None, as_of: str | None = None) -> StageOutput:
    """Load bars from the configured source; keep the newest ``window_days`` when given.

    ``as_of`` (a UTC time) keeps only bars stamped before it, as if the run happened then;
    the window ends at the newest of those.
    """
    from alphaloop.data.sources import fetch_ccxt, load_bars

    source = params.source
    raw = fetch_ccxt(source, progress=progress) if isinstance(source, CcxtSource) \
        else load_bars(source)
    if as_of is not None and len(raw):
        cut = pd.Timestamp(as_of)
        cut = cut.tz_localize("UTC") if cut.tzinfo is None else cut
        stamps = pd.to_datetime(raw["timestamp"], utc=True, errors="coerce")
        raw = raw[stamps < cut].reset_index(drop=True)
        if raw.empty:
            raise ValueError(f"no bars of the source before as_of {as_of}")
    if window_days is not None and len(raw):
        stamps = pd.to_datetime(raw["timestamp"], utc=True, errors="coerce")
        raw = raw[stamps > stamps.max() - pd.Timedelta(days=window_days)].reset_index(drop=True)
    summary = {
        "source": source.model_dump(),
        "rows": len(raw),
        "symbol": str(raw["symbol"].iloc[0]) if len(raw) else None,
        "timeframe": str(raw["timeframe"].iloc[0]) if len(raw) else None,
        "first": str(raw["timestamp"].min()) if "timestamp" in raw else None,
        "last": str(raw["timestamp"].max()) if "timestamp" in raw else None,
        "window_days": window_days,
    }
    if ws is not None:
        write_frame(raw, ws.raw_bars)
        write_json(ws.report("ingest"), {**summary, "output": str(ws.raw_bars)})
    log.info("ingested %s rows of %s %s", f"{len(raw):,}", summary["symbol"],
             summary["timeframe"])
    return StageOutput(raw, summary)


def validate(params: ValidateParams, raw: pd.DataFrame, source: str,
             ws: Workspace | None, docs: bool = True) -> tuple[pd.DataFrame, ValidationReport]:
    """Validate and clean raw bars; raises ``DataValidationError`` on unusable data."""
    docs_dir = ws.data_docs if ws is not None and docs else None
    if docs_dir is not None and docs_dir.exists():
        shutil.rmtree(docs_dir)  # GX appends runs to a docs site; keep only this one
    actions = None
    if params.adjust_from == "actions" and params.actions_file:
        from alphaloop.data.sources import read_table

        actions = read_table(params.actions_file)
    outcome = validate_bars(raw, params, source=source, docs_dir=docs_dir, actions=actions)
    if ws is not None:
        write_frame(outcome.bars, ws.validated_bars)
        write_json(ws.report("validation"), outcome.report.to_dict())
    report = outcome.report
    log.info("validated %s: %s rows in, %s rows out, %d gap-free segments", source,
             f"{report.rows_in:,}", f"{report.rows_out:,}", report.segments)
    return outcome.bars, report


def features(config: FeatureConfig, bars: pd.DataFrame, ws: Workspace | None) -> StageOutput:
    """The TA-Lib feature set over validated bars, plus an importance proxy ranking."""
    log.info("building features on %s bars", f"{len(bars):,}")
    result = build_features(bars, config)
    ranking = feature_importance_proxy(result.frame, result.feature_columns,
                                       horizon=config.importance_horizon)
    report = {
        "rows_in": len(bars),
        "rows_out": len(result.frame),
        "warmup_rows_dropped": result.warmup_rows_dropped,
        "segments_used": result.segments_used,
        "segments_skipped": result.segments_skipped,
        "n_features": len(result.feature_columns),
        "top_features": ranking.head(10)[["feature", "spearman"]].to_dict("records"),
    }
    if ws is not None:
        write_frame(result.frame, ws.features)
        ws.reports.mkdir(parents=True, exist_ok=True)
        ranking.to_csv(ws.reports / "feature_importance.csv", index=False)
        write_json(ws.report("features"), {**report, "output": str(ws.features)})
    log.info("built %d features x %s rows (%d warm-up rows dropped)", report["n_features"],
             f"{report['rows_out']:,}", result.warmup_rows_dropped)
    return StageOutput(result.frame, report)
