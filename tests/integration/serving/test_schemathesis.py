"""Schemathesis against the live server's OpenAPI document: no 5xx, no schema violation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.serving.conftest import TOKEN, Server

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent
MIN_CASES = 500


def test_schemathesis_finds_no_5xx_and_no_schema_violation(server: Server,
                                                           tmp_path: Path) -> None:
    # Every check: server errors, status codes, content types, headers and bodies against
    # the document, negative data rejected, auth enforced where the document declares it.
    # Bounded by the examples per operation (~750 cases, ~20 s here) and the timeout below.
    cmd = [str(Path(sys.executable).parent / "st"), "--config-file",
           str(HERE / "schemathesis.toml"), "run", f"{server.url}/openapi.json",
           "--checks", "all", "--header", f"Authorization: Bearer {TOKEN}",
           "--max-examples", "150", "--seed", "20261202", "--workers", "2",
           "--request-timeout", "30", "--report", "json", "--report-dir", str(tmp_path)]
    # cwd: schemathesis keeps a crash cache in ./.schemathesis, which belongs in tmp, not the repo
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=420, cwd=tmp_path)
    output = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, output
    report = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert report["complete"] and not report["failures"] and not report["errors"], output
    cases = report["test_cases"]["generated"]
    print(f"schemathesis: {cases} test cases over {report['operations']['tested']} "
          f"operations in {report['running_time']:.0f} s, no failures")
    assert cases >= MIN_CASES, output
