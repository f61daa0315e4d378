"""``alphaloop summary`` after a failed stage: it says so and never shows an earlier run's data."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from alphaloop.config import load_params
from alphaloop.stages.data import features, ingest, validate
from alphaloop.workspace import read_frame
from pipelines import summary
from pipelines.common import WS, run_stage
from tests.conftest import make_raw_bars

pytestmark = pytest.mark.integration


def _write_bars(path: Path, n: int, broken: bool = False) -> None:
    frame = make_raw_bars(n).drop(columns=["utc_offset", "symbol", "timeframe"])
    if broken:
        frame = frame.astype({"close": object})
        frame.loc[::2, "close"] = "error"  # half the closes unreadable: validation must stop
    frame.to_csv(path, index=False)


def _stages() -> None:
    """ingest -> validate -> features as the DVC shells run them (recorded by run_stage)."""
    run_stage(lambda: ingest(load_params().ingest, WS), stage="ingest")
    run_stage(lambda: validate(load_params().validate_, read_frame(WS.raw_bars),
                               str(WS.raw_bars), WS, docs=False), stage="validate")
    run_stage(lambda: features(load_params().features, read_frame(WS.validated_bars), WS),
              stage="features")


def _summary() -> tuple[bool, str]:
    out = io.StringIO()
    complete = summary.render(Console(file=out, width=220))
    return complete, out.getvalue()


def test_summary_after_a_failed_stage_never_mixes_runs(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    bars = tmp_path / "bars.csv"
    Path("params.yaml").write_text(
        f"ingest:\n  source: {{kind: file, path: {bars}, symbol: TEST}}\n")
    _write_bars(bars, 1200)
    _stages()
    complete, text = _summary()
    assert "features" in text and "1,200" in text  # run 1: rows in, features built
    first_rows = read_frame(WS.features).shape[0]
    assert f"{first_rows:,}" in text
    assert not complete  # train, evaluate, ... never ran: the summary says so
    assert "not run" in text

    _write_bars(bars, 900, broken=True)  # run 2: new data that fails validation
    with pytest.raises(SystemExit):
        _stages()
    complete, text = _summary()
    assert not complete
    assert "validate" in text and "failed" in text and "parseable_values" in text
    # The features report from run 1 still lies on disk, but it is not shown as this run's.
    assert f"{first_rows:,}" not in text
    assert "Features:" not in text and "Validation of" not in text
    assert "stale" in text and "made from an earlier run" in text
    assert "900" in text  # what this run did ingest is shown

    _write_bars(bars, 1200)  # run 3: good data again, everything current once more
    _stages()
    complete, text = _summary()
    assert "failed" not in text and "Features:" in text
    assert "ingested " in text  # the run time comes from the git-ignored status file

    # Reports are committed with the pipeline: they hold nothing that differs run to run.
    import json

    report = json.loads(WS.report("ingest").read_text())
    assert report["run"]["writes"] and "finished" not in report["run"]
    assert "finished" in json.loads(Path("reports/status/ingest.json").read_text())

    # Something else replaces a file a stage wrote (`alphaloop ingest --dataset ...` writes
    # to the pipeline's path by default): that stage and everything after it are stale.
    from alphaloop.workspace import write_frame

    write_frame(make_raw_bars(300, seed=9), WS.raw_bars)
    complete, text = _summary()
    assert not complete
    assert "data/raw/bars.parquet is not the file this stage wrote" in text
    assert "Features:" not in text
