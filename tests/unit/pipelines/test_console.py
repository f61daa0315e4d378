"""What entry points print: our lines, libraries' warnings, no chatter; progress as lines."""

from __future__ import annotations

import json
import logging

import pytest

from alphaloop import progress
from pipelines import console


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    yield
    logging.getLogger().handlers.clear()
    for name in console.KNOWN_NOISE:
        target = logging.getLogger(None if name == "root" else name)
        target.filters = [f for f in target.filters if not isinstance(f, console.DropPhrases)]


def test_text_keeps_our_info_and_library_warnings_only(capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    console.configure_logging("INFO", "text")
    logging.getLogger("alphaloop.stages.ensemble").info("training on 4,641 bars")
    logging.getLogger("great_expectations.data_context").info("Created temporary directory")
    logging.getLogger("onnx_ir.passes").info("Removed 38 unused nodes")
    logging.getLogger("great_expectations").warning("a real GX warning")
    logging.info("Quantization parameters for tensor not specified")  # the root logger
    logging.warning("Please consider to run pre-processing before quantization. Refer to ...")
    logging.getLogger("mlflow.pyfunc").warning("Passing a Python object ... CloudPickle ...")
    err = capsys.readouterr().err
    assert "training on 4,641 bars" in err and "a real GX warning" in err
    for noise in ("Created temporary directory", "Removed 38", "Quantization parameters",
                  "pre-processing", "CloudPickle"):
        assert noise not in err


def test_json_lines_carry_progress_fields(capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(console.FORMAT_ENV, "json")
    console.configure_logging("INFO", console.log_format())
    with console.progress_display():
        for done in range(1, 21):
            progress.report("walk-forward windows", done, 20)
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [r["done"] for r in records] == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]  # ~10 lines
    assert records[-1] == {**records[-1], "task": "walk-forward windows", "total": 20,
                           "level": "INFO", "message": "walk-forward windows: 20 of 20"}


def test_an_unknown_format_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.setenv(console.FORMAT_ENV, "xml")
    with pytest.raises(ValueError, match="ALPHALOOP_LOG_FORMAT='xml'"):
        console.log_format()


def test_reports_without_a_listener_do_nothing() -> None:
    progress.report("anything", 1, 2)  # no entry point installed one: silent, no error
