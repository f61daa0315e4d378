"""A real Prefect API for the flow tests (one test harness per session) and small projects."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

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
