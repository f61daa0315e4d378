"""A project for the trader's end-to-end tests: real models in a real registry, a real server.

The ensemble and the regime model are trained by the retrain cycle's stage functions on the
newest 30 days of the bundled BTC-USD bars (tiny models, an open gate, so each is champion),
and ``alphaloop serve`` serves them from the project's sqlite MLflow store.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alphaloop.config import Params, Settings, load_params
from alphaloop.registry.lifecycle import RegistryConfig
from alphaloop.retrain.cycle import plain_step, run_cycle
from alphaloop.workspace import Workspace
from tests.conftest import REPO
from tests.integration.flows.conftest import TINY_MEMBERS, free_port
from tests.integration.serving.conftest import stop, wait_until

TOKEN = "trader-test-token"
REPLAY_BARS = 120


def project_params(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "cv": {"n_splits": 3, "embargo": 100},
        "train": {"members": TINY_MEMBERS, "early_stopping_rounds": 5},
        "register": {"ensemble": {"floor": None, "require_beat_baseline": False},
                     "regime": {"require_beat_baseline": False}},
        "regime": {"epochs": 1, "d_model": 16, "num_layers": 1, "context_length": 32},
        "retrain": {"training_window_days": 30, "backtest": False},
        # Always in the market on the model's side, sized by confidence: an order every bar.
        "backtest": {"long_threshold": 0.5, "short_threshold": 0.5, "sizing": "confidence"},
        "risk": {"cost_aware": False},
        "serving": {"onnx": False, "poll_interval_s": 2.0},
        "trader": {"replay": {"bars": REPLAY_BARS, "speed": 0.0},
                   "serving": {"timeout_s": 2.0, "retries": 1, "breaker_threshold": 2,
                               "breaker_ttl_s": 2.0}},
    }
    for key, value in overrides.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    return base


def build_project(root: Path) -> Params:
    """params.yaml, then the ensemble and regime champions in root/mlruns."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(project_params()))
    params = load_params(root / "params.yaml")
    registry = RegistryConfig(root=root)
    for kind in ("ensemble", "regime"):
        report = run_cycle(params, kind, Workspace(root / "ws" / kind), registry, plain_step)
        assert report.registration is not None and report.registration.promoted
    return params


@dataclass
class Serving:
    """``alphaloop serve`` on the project's registry; can be stopped and started again."""

    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "ALPHALOOP_API_TOKEN": TOKEN, "PYTHONPATH": str(REPO),
               "ALPHALOOP_MLFLOW_TRACKING_URI":
                   f"sqlite:///{(self.root / 'mlruns' / 'mlflow.db').resolve()}"}
        log = self.root / "serve.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pipelines.cli", "serve", "--params",
                 str(self.root / "params.yaml"), "--port", str(self.port)],
                cwd=self.root, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        wait_until(f"{self.url}/readyz", 180, self.process, log)

    def wait_for_models(self) -> None:
        """Until /models lists every task as serving (models load after /readyz answers)."""
        assert self.process is not None
        wait_until(f"{self.url}/models", 180, self.process, self.root / "serve.log",
                   ready=_every_task_serving,
                   headers={"Authorization": f"Bearer {TOKEN}"})

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None


def _every_task_serving(answer: Any) -> bool:
    models = answer.json()["models"]
    return bool(models) and all(m["status"] == "serving" for m in models)


def settings(store_url: str, redis_url: str | None = None) -> Settings:
    return Settings(trader_store_url=store_url, redis_url=redis_url)
