"""The Dask fan-out: two markets retrained at the same time, each into its own registered model.

Once on a LocalCluster that ``fan_out`` starts itself, once on a scheduler and workers started
separately (``retrain.fan_out.dask_address``). Both use tiny members (conftest) so the whole
file stays within a few minutes on two cores.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from alphaloop.registry.lifecycle import RegistryConfig
from alphaloop.registry.manual import model_states
from tests.conftest import REPO
from tests.integration.flows.conftest import write_project

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
MARKETS = [
    {"name": "btc-usd-15m", "source": {"kind": "bundled", "dataset": "btc-usd-15m"},
     "training_window_days": 20, "overrides": {}},
    {"name": "sp500-1d", "source": {"kind": "bundled", "dataset": "sp500-1d"},
     "training_window_days": None, "overrides": {"validate": {"session": "XNYS"}}},
]


@pytest.fixture(autouse=True)
def _api(prefect_api: None) -> None:
    return None


def _project(root: Path, **fan_out: Any) -> Path:
    return write_project(root, retrain={"fan_out": {"tasks": MARKETS, "n_workers": 2,
                                                    **fan_out}})


def _check_parallel_and_separate(root: Path, results: list[dict[str, Any]]) -> None:
    assert [r["market"] for r in results] == [m["name"] for m in MARKETS]
    btc, sp500 = results
    assert btc["pid"] != sp500["pid"], "both markets ran in the same worker process"
    assert os.getpid() not in (btc["pid"], sp500["pid"])
    # Ran at the same time: each started before the other ended.
    assert btc["started"] < sp500["ended"] and sp500["started"] < btc["ended"], (
        f"no overlap: btc {btc['started']:.1f}-{btc['ended']:.1f}, "
        f"sp500 {sp500['started']:.1f}-{sp500['ended']:.1f}")
    assert btc["workspace"] != sp500["workspace"]
    assert Path(btc["workspace"]).parts[-2] == "btc-usd-15m"
    assert Path(sp500["workspace"]).parts[-2] == "sp500-1d"
    assert btc["window"]["timeframe"] == "15m" and sp500["window"]["timeframe"] == "1d"
    assert btc["window"]["bars"] <= 20 * 96 + 1  # the market's own window, not params'
    assert sp500["window"]["bars"] > 5000  # training_window_days null: every daily bar

    regs = [r["registration"] for r in results]
    assert regs[0]["model"] != regs[1]["model"]
    for reg in regs:  # first version of its own task, no floor: promoted
        assert reg["version"] == "1" and reg["promoted"], reg["reasons"]
        assert reg["champion_version"] == "1"
    states = {s.name: s for s in model_states(RegistryConfig(root=root))}
    assert set(states) == {r["model"] for r in regs}
    for reg in regs:
        assert states[reg["model"]].aliases["champion"].version == "1"
        assert states[reg["model"]].versions == 1
    assert regs[0]["model"].startswith("ensemble.BTC-USD.15m.")
    assert ".1d." in regs[1]["model"]


def test_local_cluster_runs_markets_in_parallel_into_separate_models(tmp_path: Path) -> None:
    from flows.retrain import fan_out

    root = _project(tmp_path / "p")
    results = fan_out("ensemble", "params.yaml", str(root))
    assert len(results) == 2
    _check_parallel_and_separate(root, results)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(procs):  # workers first, then the scheduler
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in reversed(procs):
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``dask scheduler`` and ``dask worker --nworkers 2`` as separate processes."""
    from distributed import Client

    root = tmp_path / "p"
    root.mkdir()
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH"))
                                         if p)}
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name, args in (
                ("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"]),
                ("worker", ["worker", address, "--nworkers", "2", "--nthreads", "1",
                            "--no-dashboard"])):
            with (logs / f"{name}.log").open("wb") as log:
                procs.append(subprocess.Popen([str(BIN / "dask"), *args], cwd=root, env=env,
                                              stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 90
        workers = 0
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                break
            try:
                with Client(address, timeout=5) as client:
                    workers = len(client.scheduler_info()["workers"])
            except OSError:
                workers = 0
            if workers >= 2:
                break
            time.sleep(0.5)
        if workers < 2:
            output = "\n".join(f.read_text()[-2000:] for f in sorted(logs.iterdir()))
            pytest.fail(f"the Dask scheduler never had 2 workers ({workers}):\n{output}")
        yield address, root
    finally:
        _stop(procs)


def test_separate_scheduler_runs_markets_in_parallel(
        dask_cluster: tuple[str, Path]) -> None:
    from flows.retrain import fan_out

    address, root = dask_cluster
    _project(root, dask_address=address)
    assert yaml.safe_load((root / "params.yaml").read_text())["retrain"]["fan_out"][
        "dask_address"] == address
    results = fan_out("ensemble", "params.yaml", str(root))
    assert len(results) == 2
    _check_parallel_and_separate(root, results)
