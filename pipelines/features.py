"""DVC stage ``features``: the TA-Lib feature set over validated bars, plus an importance proxy."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alphaloop.config import load_params
from alphaloop.features import FeatureConfig, build_features, feature_importance_proxy
from pipelines.common import (
    FEATURES,
    FEATURES_REPORT,
    IMPORTANCE,
    VALIDATED_BARS,
    read_frame,
    run_stage,
    write_frame,
    write_json,
)

log = logging.getLogger(__name__)


def run(config: FeatureConfig, bars_path: Path = VALIDATED_BARS, out: Path = FEATURES,
        report_path: Path | None = FEATURES_REPORT,
        importance_path: Path | None = IMPORTANCE) -> dict[str, Any]:
    """Build features from validated bars, write them and a report; return the report."""
    bars = read_frame(bars_path)
    log.info("building features on %s bars", f"{len(bars):,}")
    result = build_features(bars, config)
    write_frame(result.frame, out)
    ranking = feature_importance_proxy(result.frame, result.feature_columns,
                                       horizon=config.importance_horizon)
    report = {
        "rows_in": len(bars),
        "rows_out": len(result.frame),
        "warmup_rows_dropped": result.warmup_rows_dropped,
        "n_features": len(result.feature_columns),
        "top_features": ranking.head(10)[["feature", "spearman"]].to_dict("records"),
        "output": str(out),
    }
    if importance_path is not None:
        importance_path.parent.mkdir(parents=True, exist_ok=True)
        ranking.to_csv(importance_path, index=False)
    if report_path is not None:
        write_json(report_path, report)
    log.info("wrote %d features x %s rows to %s (%d warm-up rows dropped)",
             report["n_features"], f"{report['rows_out']:,}", out,
             result.warmup_rows_dropped)
    return report


def main() -> None:
    run_stage(lambda: run(load_params().features))


if __name__ == "__main__":
    main()
