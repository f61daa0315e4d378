"""What every stage shares: default paths, logging, environment switches, JSON output."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

# Default locations; dvc.yaml names the same paths.
RAW_BARS = Path("data/raw/bars.parquet")
VALIDATED_BARS = Path("data/validated/bars.parquet")
FEATURES = Path("data/features/features.parquet")
REPORTS = Path("reports")
VALIDATION_REPORT = REPORTS / "validation.json"
DATA_DOCS = REPORTS / "data_docs"
FEATURES_REPORT = REPORTS / "features.json"
IMPORTANCE = REPORTS / "feature_importance.csv"
INGEST_REPORT = REPORTS / "ingest.json"
MODEL_DIR = Path("models/ensemble")
ONNX_DIR = Path("models/ensemble_onnx")
OOF_PREDICTIONS = Path("data/predictions/oof.parquet")
TRAIN_METRICS = REPORTS / "train_metrics.json"
BACKTEST_METRICS = REPORTS / "backtest_metrics.json"
WALK_FORWARD = REPORTS / "walk_forward.csv"
PLOTS = REPORTS / "plots"
REGISTRY_REPORT = REPORTS / "registry.json"
AUDIT_LOG = Path("mlruns/audit.jsonl")
REGIME_DIR = Path("models/regime")
REGIME_METRICS = REPORTS / "regime_metrics.json"
REGIME_REGISTRY = REPORTS / "regime_registry.json"
SENTIMENT_DIR = Path("models/sentiment")
SENTIMENT_METRICS = REPORTS / "sentiment_metrics.json"
SENTIMENT_REGISTRY = REPORTS / "sentiment_registry.json"
HEADLINES = Path("data/text/headlines.csv")

# No telemetry or hub calls from any entry point (ENVIRONMENT.md).
OFFLINE_ENV = {
    "GX_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "true",  # MLflow reads "true", not "1"
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "BENTOML_DO_NOT_TRACK": "true",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}


# Idle OpenMP threads yield instead of spinning: on a busy 2-core box spinning threads of
# LightGBM/XGBoost stalled each other (a 27 s fit took 89 s).
RUNTIME_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def setup(level: str | None = None) -> None:
    """Entry-point set-up: offline switches and readable logging (never at import time)."""
    for key, value in {**OFFLINE_ENV, **RUNTIME_ENV}.items():
        os.environ.setdefault(key, value)
    level = level or os.environ.get("ALPHALOOP_LOG_LEVEL", "INFO").upper()
    # Plain lines: DVC pipes stage output, where rich's wrapping would garble long messages.
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", force=True)
    # GX and DVC are chatty at INFO; their warnings still show.
    for noisy in ("great_expectations", "urllib3", "ccxt"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_stage(main: Callable[[], object]) -> None:
    """Run a DVC stage's main: expected failures end in one readable line and exit 1."""
    from alphaloop.config import ConfigError
    from alphaloop.data.sources import SourceError
    from alphaloop.data.validation import DataValidationError

    setup()
    try:
        main()
    except DataValidationError as exc:
        logging.getLogger("alphaloop").error("validation failed: %s", exc)
        raise SystemExit(1) from None
    except (ConfigError, SourceError, FileNotFoundError, ValueError) as exc:
        logging.getLogger("alphaloop").error("%s", exc)
        raise SystemExit(1) from None


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write a frame atomically so an interrupted stage never leaves a half-written output."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)


def read_frame(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run the stage that writes it first "
                                "(`dvc repro` runs them in order)")
    return pd.read_parquet(path)
