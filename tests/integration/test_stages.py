"""The stage functions DVC runs, chained in-process on tmp_path with a second real data set."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from alphaloop.config import BundledSource, IngestParams, Params, ValidateParams
from alphaloop.stages import data
from alphaloop.workspace import Workspace
from pipelines import validate

pytestmark = pytest.mark.integration


def test_sp500_daily_bars_through_features(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    raw = data.ingest(IngestParams(source=BundledSource(dataset="sp500-1d")), ws)
    assert raw.report["rows"] == 5031 and raw.report["timeframe"] == "1d"
    assert ws.raw_bars.exists() and ws.report("ingest").exists()

    params = ValidateParams(session="XNYS")
    bars, report = data.validate(params, validate.load_raw(ws.raw_bars), "sp500", ws)
    assert report.rows_out == 5031  # the index file is clean: nothing dropped
    assert report.flaws["duplicate_timestamps"] == 0
    # The NYSE calendar knows the holidays (and 9/11): not one gap in 20 years.
    assert report.flaws["gaps"] == 0 and report.segments == 1
    assert json.loads(ws.report("validation").read_text())["passed"] is True
    assert (ws.data_docs / "index.html").exists()

    out = data.features(Params().features, bars, ws)
    result, frame = out.report, pd.read_parquet(ws.features)
    assert frame.equals(out.frame)
    assert result["n_features"] >= 200
    assert len(frame) == 5031 - result["warmup_rows_dropped"]
    assert {"segment", "gap_before", "zero_volume", "symbol"} <= set(frame.columns)
    assert out.report["segments_used"] == 1
    ranking = pd.read_csv(ws.reports / "feature_importance.csv")
    assert len(ranking) == result["n_features"]


def test_continuous_session_would_flag_every_weekend(tmp_path: Path) -> None:
    raw = validate.load_raw("bundled:sp500-1d")
    _, report = data.validate(ValidateParams(), raw, "sp500", None)
    assert report.flaws["gaps"] > 1000  # why equity data needs an exchange calendar
    # business_days knows weekends but not holidays: each holiday is a gap, and with
    # features restarting after every gap no segment would be long enough.
    _, business = data.validate(ValidateParams(session="business_days"), raw, "sp500", None)
    assert 100 < business.flaws["gaps"] < 250
