"""A real Prefect API for the flow tests (one test harness per session) and small projects."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

BIN = Path(sys.executable).parent

TINY_MEMBERS = {
    "lightgbm": {"n_estimators": 20, "num_leaves": 7, "n_jobs": 1, "verbose": -1},
    "xgboost": {"n_estimators": 20, "max_depth": 3, "n_jobs": 1, "verbosity": 0},
    "catboost": {"iterations": 20, "depth": 3, "thread_count": 1, "verbose": False,
                 "allow_writing_files": False},
}


def tiny_params(**sections: Any) -> dict[str, Any]:
    """Small, fast params: 3 folds, tiny members, a 30-day window, no walk-forward.

    The embargo is explicit: the default (the longest feature look-back, 597 bars) leaves
    too few training rows in a 20-30 day window of the gappy bundled bars.
    """
    base: dict[str, Any] = {
        "cv": {"n_splits": 3, "embargo": 100},
        "train": {"members": TINY_MEMBERS, "early_stopping_rounds": 5},
        "register": {"ensemble": {"floor": None, "require_beat_baseline": False}},
        "retrain": {"models": ["ensemble"], "training_window_days": 30, "backtest": False},
    }
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    return base


def write_project(root: Path, **sections: Any) -> Path:
    """A project root with its own params.yaml (the registry lands in root/mlruns)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params(**sections)))
    return root


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


# One member that can never split: a constant forecast, so the model has no skill at all.
WEAK_MEMBERS = {"lightgbm": {"n_estimators": 20, "min_child_samples": 1_000_000, "n_jobs": 1,
                             "verbose": -1}}


def planted_bars_file(path: Path, *, days: int = 40, seed: int = 0, phi: float = 0.6,
                      rising_bars: int = 0) -> Path:
    """15-minute bars whose one-bar returns follow an AR(1) (``phi``): momentum a model can learn.

    ``rising_bars``: the newest bars only rise, so every label there is "up" (a one-class
    holdout, whose AUC is undefined).
    """
    import numpy as np
    import pandas as pd

    n = days * 96
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 0.002, n)
    returns = np.zeros(n)
    for t in range(1, n):
        returns[t] = phi * returns[t - 1] + noise[t]
    if rising_bars:
        returns[-rising_bars:] = 0.2 * np.abs(returns[-rising_bars:]) + 0.0005
    close = 100 * np.exp(np.cumsum(returns))
    open_ = np.r_[close[0], close[:-1]]
    spread = np.abs(rng.normal(0, 0.0005, n)) * close
    pd.DataFrame({
        "timestamp": pd.date_range("2024-01-01", periods=n, freq="15min", tz="UTC"),
        "open": open_, "high": np.maximum(open_, close) + spread,
        "low": np.minimum(open_, close) - spread, "close": close,
        "volume": rng.integers(1, 1000, n).astype(float),
    }).to_csv(path, index=False)
    return path


def file_source(path: Path, symbol: str) -> dict[str, Any]:
    return {"source": {"kind": "file", "path": str(path), "symbol": symbol, "timeframe": "15m"}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (background processes ignore SIGINT), then kill if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A real ``prefect server start`` on a free port; yields the environment that reaches it."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": api,
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "true"}
    server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_for(f"{api}/health", 120)
        yield env
    finally:
        stop(server)


def prefect_cli(env: dict[str, str], cwd: Path, *args: str,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "prefect"), *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)
