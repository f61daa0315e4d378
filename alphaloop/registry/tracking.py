"""What one MLflow run records: its name, every param, the input dataset, files and plots.

Used for registered models (:mod:`alphaloop.registry.lifecycle`) and for backtests, so every
run in the UI can be traced to its data (source, market, the DVC hash of the file it read),
the exact ``params.yaml`` and ``dvc.lock`` it ran under, and its pictures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

LINEAGE_FILES = ("params.yaml", "dvc.lock")


@dataclass(frozen=True)
class InputData:
    """The data a run used, as ``mlflow.log_input`` records it.

    Attributes:
        frame: The rows (their columns become the dataset's schema in the UI).
        name: e.g. ``BTC-USD 15m features``.
        path: The file the stage read (``data/features/features.parquet``).
        digest: Its data version: the md5 DVC records for that file.
        tags: Where the data came from (``source``, ``symbol``, ``timeframe``, ...).
    """

    frame: pd.DataFrame
    name: str
    path: str
    digest: str | None
    tags: dict[str, str] = field(default_factory=dict)


def describe_source(source: Any) -> str:
    """``ingest.source`` in one word: ``bundled:btc-usd-15m``, ``file:bars.csv``,
    ``ccxt:binance BTC/USDT 15m``."""
    kind = getattr(source, "kind", "unknown")
    if kind == "bundled":
        return f"bundled:{source.dataset}"
    if kind == "file":
        return f"file:{source.path}"
    if kind == "ccxt":
        return f"ccxt:{source.exchange} {source.symbol} {source.timeframe}"
    return str(kind)


def run_name(what: str, data_end: str | None = None, now: datetime | None = None) -> str:
    """``ensemble BTC-USD 15m h4 | data to 2021-12-29 | 2026-12-02 16:05 UTC``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    data = f" | data to {str(data_end)[:10]}" if data_end else ""
    return f"{what}{data} | {stamp}"


def log_contents(*, params: dict[str, Any], metrics: dict[str, Any], tags: dict[str, str],
                 data: InputData | None, artifacts: dict[str, Any], root: Path | None) -> None:
    """Record into the active run: tags, params and metrics (flattened), the input dataset,
    artifacts (``folder -> a file, a directory or a tuple of files``; missing ones are
    skipped) and ``params.yaml``/``dvc.lock`` of ``root`` (under ``lineage/``)."""
    import mlflow

    mlflow.set_tags(tags)
    mlflow.log_params({k: str(v)[:500] for k, v in flat("", params).items()})
    mlflow.log_metrics({k: float(v) for k, v in flat("", metrics).items() if _finite(v)})
    if data is not None:
        log_input(data)
    for folder, paths in artifacts.items():
        for path in paths if isinstance(paths, tuple) else (paths,):
            if path.is_dir():
                mlflow.log_artifacts(str(path), folder)
            elif path.exists():
                mlflow.log_artifact(str(path), folder)
    for path in [root / name for name in LINEAGE_FILES] if root is not None else []:
        if path.is_file():
            mlflow.log_artifact(str(path), "lineage")


def log_input(data: InputData) -> None:
    import warnings

    import mlflow

    with warnings.catch_warnings():
        # A local path matches MLflow's "file" and "" artifact schemes alike: either is right.
        warnings.filterwarnings("ignore", "The specified dataset source can be interpreted")
        # The schema is a description here, never enforced on this data.
        warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer column")
        dataset = mlflow.data.from_pandas(  # type: ignore[attr-defined]
            data.frame, source=data.path, name=data.name, digest=data.digest)
        mlflow.log_input(dataset, context="training",
                         tags={"data_version": data.digest or "unknown", "path": data.path,
                               **data.tags})


def flat(prefix: str, value: Any) -> dict[str, Any]:
    """Nested dicts as dotted keys, the shape MLflow params and metrics want."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(flat(f"{prefix}.{key}" if prefix else str(key), inner))
        return out
    return {prefix: value}


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(float(value))
