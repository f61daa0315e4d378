"""The stage functions DVC runs, chained in-process on tmp_path with a second real data set."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from alphaloop.config import BundledSource, IngestParams, Params, ValidateParams
from pipelines import features, ingest, validate

pytestmark = pytest.mark.integration


def test_sp500_daily_bars_through_features(tmp_path: Path) -> None:
    raw_path, clean_path = tmp_path / "raw.parquet", tmp_path / "clean.parquet"
    feats_path = tmp_path / "features.parquet"
    summary = ingest.run(IngestParams(source=BundledSource(dataset="sp500-1d")), raw_path,
                         tmp_path / "ingest.json")
    assert summary["rows"] == 5031 and summary["timeframe"] == "1d"

    params = ValidateParams(session="business_days")
    report = validate.run(params, validate.load_raw(raw_path), "sp500", clean_path,
                          tmp_path / "validation.json", tmp_path / "docs")
    assert report.rows_out == 5031  # the index file is clean: nothing dropped
    assert report.flaws["duplicate_timestamps"] == 0
    # Business-day sessions see only exchange holidays as gaps, never weekends.
    assert 100 < report.flaws["gaps"] < 250
    assert json.loads((tmp_path / "validation.json").read_text())["passed"] is True

    result = features.run(Params().features, clean_path, feats_path,
                          tmp_path / "features.json", tmp_path / "importance.csv")
    frame = pd.read_parquet(feats_path)
    assert result["n_features"] >= 200
    assert len(frame) == 5031 - result["warmup_rows_dropped"]
    assert {"segment", "gap_before", "zero_volume", "symbol"} <= set(frame.columns)
    ranking = pd.read_csv(tmp_path / "importance.csv")
    assert len(ranking) == result["n_features"]


def test_continuous_session_would_flag_every_weekend(tmp_path: Path) -> None:
    raw = validate.load_raw("bundled:sp500-1d")
    report = validate.run(ValidateParams(), raw, "sp500", None, None, None)
    assert report.flaws["gaps"] > 1000  # why equity data needs session: business_days
