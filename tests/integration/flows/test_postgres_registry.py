"""One retrain cycle against `mlflow server` on PostgreSQL gives the sqlite store's gate result."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.flows.conftest import free_port as _free_port
from tests.integration.flows.conftest import stop as _stop
from tests.integration.flows.conftest import wait_for as _wait
from tests.integration.flows.conftest import write_project

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


def _psql(sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres",
                           "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def postgres_db() -> str:  # type: ignore[misc]
    if shutil.which("psql") is None or _psql("select 1").returncode != 0:
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432 (.ci/run starts it)")
    name = f"alphaloop_test_{os.getpid()}"
    _psql(f"DROP DATABASE IF EXISTS {name}")
    assert _psql(f"CREATE DATABASE {name}").returncode == 0
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_cycle_on_an_mlflow_server_with_postgres_matches_sqlite(
        tmp_path: Path, postgres_db: str, prefect_api: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.retrain import retrain

    local = retrain("ensemble", "params.yaml", str(write_project(tmp_path / "sqlite", retrain={
        "training_window_days": 20})))["registration"]
    port = _free_port()
    server = subprocess.Popen(
        [str(BIN / "mlflow"), "server", "--backend-store-uri", postgres_db,
         "--artifacts-destination", str(tmp_path / "artifacts"), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(f"http://127.0.0.1:{port}/health", 120)
        monkeypatch.setenv("ALPHALOOP_MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
        remote = retrain("ensemble", "params.yaml", str(write_project(
            tmp_path / "server", retrain={"training_window_days": 20})))["registration"]
    finally:
        _stop(server)
        import mlflow

        mlflow.set_tracking_uri(None)
    assert remote["model"] == local["model"]
    assert remote["promoted"] is local["promoted"] and remote["version"] == local["version"]
    assert remote["scores"] == local["scores"] and remote["reasons"] == local["reasons"]
    # Nothing landed in a local sqlite file: the server held the registry.
    assert not (tmp_path / "server" / "mlruns" / "mlflow.db").exists()
