"""An unreachable exchange ends a DVC stage and a CLI command with one line, not a traceback."""

from __future__ import annotations

import logging
from pathlib import Path

import ccxt
import pytest
import yaml
from typer.testing import CliRunner

from alphaloop.data import sources
from tests.unit.data.test_exchange import FakeBinance

CCXT = {"ingest": {"source": {"kind": "ccxt", "until": "2025-01-01T00:00:00Z", "retries": 2,
                              "retry_wait_s": 0.0, "cache_dir": None}}}


@pytest.fixture
def offline_exchange(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeBinance:
    """A project in tmp_path whose exchange always times out (ccxt's own error type)."""
    exchange = FakeBinance(bars=100, failures=[ccxt.RequestTimeout("binance GET https://"
                                                                   "api.binance.com/... "
                                                                   "timed out")] * 10)
    monkeypatch.setattr(sources, "make_exchange", lambda name: exchange)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(CCXT))
    return exchange


def test_the_ingest_stage_fails_with_one_line(offline_exchange: FakeBinance,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines import ingest

    with pytest.raises(SystemExit) as stopped:
        ingest.main()  # what `dvc repro` runs
    logging.getLogger().handlers.clear()  # the stage's handler writes to captured stderr
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line.split(": ", 1)[1] for line in err.splitlines() if " ERROR " in line]
    assert errors == ["binance BTC/USDT 15m: network error after 2 attempts (RequestTimeout: "
                      "binance GET https://api.binance.com/... timed out); check the "
                      "connection, or raise ingest.source.retries"]
    assert offline_exchange.requests == 2


def test_the_ingest_command_fails_with_one_line(offline_exchange: FakeBinance) -> None:
    from pipelines.cli import app

    result = CliRunner().invoke(app, ["ingest"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "network error after 2 attempts" in lines[0]
    assert "Traceback" not in result.output
