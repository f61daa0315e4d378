"""`alphaloop retrain serve` against a real `prefect server`: schedule shown, a run registers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from alphaloop.registry.lifecycle import RegistryConfig
from alphaloop.registry.manual import model_states
from tests.integration.flows.conftest import write_project

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def test_serve_creates_a_scheduled_deployment_whose_run_registers(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", retrain={"training_window_days": 20})
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": api,
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "true"}
    server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    serve = None
    try:
        _wait(f"{api}/health", 120)
        serve = subprocess.Popen([str(BIN / "alphaloop"), "retrain", "serve"], cwd=root,
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
            return subprocess.run([str(BIN / "prefect"), *args], env=env, cwd=root,
                                  capture_output=True, text=True, timeout=timeout)

        deadline = time.monotonic() + 90
        while "retrain/ensemble" not in cli("deployment", "ls").stdout:
            assert time.monotonic() < deadline, "serve did not create the deployment"
            time.sleep(2)
        schedules = cli("deployment", "schedule", "ls", "retrain/ensemble").stdout
        assert "interval" in schedules.lower() and ("1 day" in schedules or
                                                    "86400" in schedules), schedules
        run = cli("deployment", "run", "retrain/ensemble", "--watch", timeout=400)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "completed" in (run.stdout + run.stderr).lower()
    finally:
        if serve is not None:
            _stop(serve)  # before the server, or it waits on "Pausing all deployments"
        _stop(server)
    states = model_states(RegistryConfig(root=root))
    assert [s.task.kind for s in states] == ["ensemble"]
    assert states[0].versions == 1 and states[0].aliases["champion"].version == "1"
