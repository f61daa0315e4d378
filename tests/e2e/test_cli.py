"""The ``alphaloop`` CLI as a user runs it: real process, real files, exit codes and messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO, make_raw_bars

pytestmark = pytest.mark.e2e


def alphaloop(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "PYTHONPATH": str(REPO),
                               "COLUMNS": "200"})


def _csv(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "bars.csv"
    frame.drop(columns=["utc_offset", "symbol", "timeframe"], errors="ignore").to_csv(
        path, index=False)
    return path


def test_missing_column_exits_nonzero_naming_the_rule(tmp_path: Path) -> None:
    path = _csv(tmp_path, make_raw_bars(600).drop(columns=["volume"]))
    result = alphaloop("validate", str(path))
    assert result.returncode == 1
    assert "required_columns" in result.stderr and "volume" in result.stderr


def test_non_numeric_prices_exit_nonzero_naming_the_rule(tmp_path: Path) -> None:
    frame = make_raw_bars(600).astype({"close": object})
    frame.loc[::3, "close"] = "error"
    result = alphaloop("validate", str(_csv(tmp_path, frame)))
    assert result.returncode == 1
    assert "parseable_values" in result.stderr and "'close'" in result.stderr
    assert "200 of 600" in result.stderr


def test_mostly_broken_high_low_exits_nonzero_naming_the_rule(tmp_path: Path) -> None:
    frame = make_raw_bars(600)
    frame.loc[:400, "high"] = frame.loc[:400, "low"] * 0.9
    result = alphaloop("validate", str(_csv(tmp_path, frame)))
    assert result.returncode == 1
    assert "high_ge_open_close" in result.stderr


def test_btc_file_passes_and_reports_each_known_flaw(tmp_path: Path) -> None:
    from alphaloop.data.sources import bundled_path

    report = tmp_path / "report.json"
    result = alphaloop("validate", str(bundled_path("btc-usd-15m")), "--report", str(report),
                       "--out", str(tmp_path / "clean.parquet"))
    assert result.returncode == 0, result.stderr
    import json

    flaws = json.loads(report.read_text())["flaws"]
    assert flaws["duplicate_timestamps"] == 32
    assert flaws["off_grid_partial_bars"] == 3
    assert flaws["gaps"] >= 1 and flaws["missing_bars_in_gaps"] > 200  # the 2.3-day hole
    assert flaws["zero_volume_bars"] > 2000
    assert flaws["utc_offsets_seen"] == 2
    for name in ("duplicate timestamps", "off grid partial bars", "zero volume bars", "gaps"):
        assert name in result.stdout
    clean = pd.read_parquet(tmp_path / "clean.parquet")
    assert clean["timestamp"].is_unique and clean["timestamp"].is_monotonic_increasing


def test_unknown_file_type_and_missing_file_are_clear(tmp_path: Path) -> None:
    result = alphaloop("validate", str(tmp_path / "nothing.csv"))
    assert result.returncode == 2 and "not found" in result.stderr
    bad = tmp_path / "bars.xlsx"
    bad.write_text("x")
    result = alphaloop("validate", str(bad))
    assert result.returncode == 2 and "unsupported file type" in result.stderr


def test_bad_params_file_is_rejected_with_the_key(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("features:\n  rsi_periods: []\n")
    result = alphaloop("features", "--params", str(params))
    assert result.returncode == 2
    assert "features.rsi_periods" in result.stderr


def test_help_lists_the_commands() -> None:
    result = alphaloop("--help")
    assert result.returncode == 0
    for command in ("ingest", "validate", "features", "summary", "serve"):
        assert command in result.stdout


def test_sentiment_with_a_missing_model_falls_back_to_the_lexicon(tmp_path: Path) -> None:
    result = alphaloop("sentiment", "Exchange hacked, $200M stolen", "--model-dir",
                       str(tmp_path / "none"))
    assert result.returncode == 0, result.stderr
    assert "backend lexicon" in result.stdout and "FALLBACK" in result.stdout


def test_serve_refuses_a_bad_setting_before_starting() -> None:
    result = alphaloop("serve", "--port", "70000")
    assert result.returncode == 2
    assert "port" in result.stderr and "65535" in result.stderr


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line an expected failure prints: no traceback, nothing wrapped."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_version() -> None:
    result = alphaloop("--version")
    assert result.returncode == 0 and result.stdout.strip() == "alphaloop 0.1.0"


def test_a_binary_file_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_bytes(bytes(range(256)) * 20)
    line = _one_error_line(alphaloop("validate", str(path)))
    assert str(path) in line and "not UTF-8 text" in line


def test_a_corrupt_parquet_file_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    path.write_text("timestamp,open\n" * 50)
    line = _one_error_line(alphaloop("validate", str(path)))
    assert str(path) in line and "not a readable Parquet file" in line


def test_an_unknown_model_is_one_line_listing_the_known_ones(tmp_path: Path) -> None:
    result = alphaloop("promote", "nope", cwd=tmp_path)
    assert result.returncode == 2
    line = _one_error_line(result)
    assert "no registered model 'nope'; known models: none yet" in line


def test_a_missing_input_is_one_line_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("{}\n")
    line = _one_error_line(alphaloop("train", cwd=tmp_path))
    assert "data/features/features.parquet not found" in line and "dvc repro" in line


def test_a_bad_log_format_is_one_line() -> None:
    line = _one_error_line(alphaloop("--log-format", "xml", "summary"))
    assert "--log-format 'xml'" in line


def test_json_log_format_writes_json_lines(tmp_path: Path) -> None:
    import json

    (tmp_path / "params.yaml").write_text("{}\n")
    result = alphaloop("--log-format", "json", "ingest", "--dataset", "sp500-1d", "--out",
                       str(tmp_path / "bars.parquet"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert any("ingested 5,031 rows" in r["message"] for r in records)


def test_out_never_touches_the_pipeline_reports(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("{}\n")
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "ingest.json").write_text('{"rows": 8721}\n')
    out = tmp_path / "elsewhere" / "sp500.parquet"
    result = alphaloop("ingest", "--dataset", "sp500-1d", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert pd.read_parquet(out)["symbol"].iloc[0] == "^GSPC"
    assert (reports / "ingest.json").read_text() == '{"rows": 8721}\n'
    assert sorted(p.name for p in reports.iterdir()) == ["ingest.json"]
    assert not (tmp_path / "data").exists()
