"""Where a stage writes: one folder per run, so DVC, a Prefect flow and tests never collide.

DVC binds the project root (paths as in ``dvc.yaml``); the retraining flow gives every task
and run a folder of its own. Stage functions receive a ``Workspace`` and return their results
in memory; the files they write are for DVC, people and the MLflow UI, never re-read by the
stage that wrote them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Workspace:
    """Output locations under one root (the layout ``dvc.yaml`` names)."""

    root: Path = Path(".")

    def path(self, relative: str | Path) -> Path:
        return self.root / relative

    @property
    def raw_bars(self) -> Path:
        return self.root / "data/raw/bars.parquet"

    @property
    def validated_bars(self) -> Path:
        return self.root / "data/validated/bars.parquet"

    @property
    def features(self) -> Path:
        return self.root / "data/features/features.parquet"

    @property
    def oof_predictions(self) -> Path:
        return self.root / "data/predictions/oof.parquet"

    @property
    def walk_forward_windows(self) -> Path:
        return self.root / "data/predictions/walk_forward_windows.parquet"

    @property
    def walk_forward_predictions(self) -> Path:
        return self.root / "data/predictions/walk_forward.parquet"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def tear_sheet(self) -> Path:
        return self.reports / "tear_sheet.html"

    @property
    def plots(self) -> Path:
        return self.reports / "plots"

    @property
    def data_docs(self) -> Path:
        return self.reports / "data_docs"

    def report(self, name: str) -> Path:
        """``reports/<name>.json`` (ingest, validation, features, train_metrics, ...)."""
        return self.reports / f"{name}.json"

    def registered(self, kind: str) -> Path:
        """``reports/registered/<kind>.json``: which model a stage registered, identified by
        content only (task, model and data hashes), so it is the same file on any machine."""
        return self.reports / "registered" / f"{kind}.json"

    def metrics(self, name: str) -> Path:
        """``reports/metrics/<name>.json``: the few headline numbers ``dvc metrics`` shows."""
        return self.reports / "metrics" / f"{name}.json"

    def model_dir(self, kind: str) -> Path:
        """``models/<kind>`` (ensemble, ensemble_onnx, sentiment, regime)."""
        return self.root / "models" / kind


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """A table for ``dvc plots`` and people: 8 significant digits keep the committed files
    small and their diffs readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format="%.8g")


def read_json(path: Path) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(path.read_text())
    return payload


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


def file_md5(path: Path) -> str:
    """The md5 DVC records for a file output, so lineage matches with or without DVC."""
    digest = hashlib.md5()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dir_md5(path: Path) -> str:
    """One md5 over a folder's files (relative names and contents, in name order): equal
    exactly when every file is byte-identical, like DVC's hash of a directory output."""
    digest = hashlib.md5()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}:{file_md5(file)}\n".encode())
    return digest.hexdigest()
