"""Scheduled deployments against a real `prefect server`: `alphaloop retrain serve`, and
`prefect deploy` of prefect.yaml with a process work pool and `prefect worker start`."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from alphaloop.registry.lifecycle import RegistryConfig
from alphaloop.registry.manual import model_states
from tests.conftest import REPO
from tests.integration.flows.conftest import BIN, prefect_cli, stop, write_project

pytestmark = pytest.mark.integration


def _one_champion(root: Path) -> None:
    states = model_states(RegistryConfig(root=root))
    assert [s.task.kind for s in states] == ["ensemble"]
    assert states[0].versions == 1 and states[0].aliases["champion"].version == "1"


def _wait_for_deployment(env: dict[str, str], root: Path, name: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while name not in prefect_cli(env, root, "deployment", "ls").stdout:
        assert time.monotonic() < deadline, f"{name} was not created"
        time.sleep(2)


def _run_and_watch(env: dict[str, str], root: Path, name: str) -> None:
    run = prefect_cli(env, root, "deployment", "run", name, "--watch", timeout=400)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "completed" in (run.stdout + run.stderr).lower()


def test_serve_creates_a_scheduled_deployment_whose_run_registers(
        tmp_path: Path, prefect_server: dict[str, str]) -> None:
    env = prefect_server
    root = write_project(tmp_path / "p", retrain={"training_window_days": 20})
    serve = subprocess.Popen([str(BIN / "alphaloop"), "retrain", "serve"], cwd=root,
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_deployment(env, root, "retrain/ensemble", 90)
        schedules = prefect_cli(env, root, "deployment", "schedule", "ls",
                                "retrain/ensemble").stdout
        assert "interval" in schedules.lower() and ("1 day" in schedules or
                                                    "86400" in schedules), schedules
        _run_and_watch(env, root, "retrain/ensemble")
    finally:
        stop(serve)  # before the server, or it waits on "Pausing all deployments"
    _one_champion(root)


def test_prefect_yaml_deploys_to_a_process_pool_whose_worker_runs_it(
        tmp_path: Path, prefect_server: dict[str, str]) -> None:
    """The README's work-pool commands, on the repository's own prefect.yaml."""
    root = write_project(tmp_path / "p", retrain={"training_window_days": 20})
    # prefect.yaml's pull step works in "{{ $PWD }}": the shell's directory at deploy time.
    env = {**prefect_server, "PWD": str(root)}
    shutil.copy(REPO / "prefect.yaml", root)
    os.symlink(REPO / "flows", root / "flows")  # the entrypoints prefect.yaml names
    pool = prefect_cli(env, root, "work-pool", "create", "alphaloop", "--type", "process")
    assert pool.returncode == 0, pool.stdout + pool.stderr
    deploy = prefect_cli(env, root, "--no-prompt", "deploy", "--all", timeout=180)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    listed = prefect_cli(env, root, "deployment", "ls").stdout
    for name in ("retrain/ensemble", "retrain/regime", "retrain/sentiment",
                 "drift-check/ensemble-drift"):
        assert name in listed, listed
    schedules = prefect_cli(env, root, "deployment", "schedule", "ls", "retrain/ensemble").stdout
    assert "1 day" in schedules or "86400" in schedules, schedules
    worker = subprocess.Popen([str(BIN / "prefect"), "worker", "start", "--pool", "alphaloop"],
                              cwd=root, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        _run_and_watch(env, root, "retrain/ensemble")
    finally:
        stop(worker)
    _one_champion(root)
