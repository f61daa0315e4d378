"""Which run each stage's report came from, so the summary never mixes runs.

Every DVC stage shell records, when it ends, ``reports/status/<stage>.json``: ``ok`` with the
md5 of each file it read and wrote and the data version (the md5 of the ingested bars), or
``failed`` with the error, and the time. On success the same record, without the time, goes
into the stage's report as ``run``: reports are committed with the pipeline, so they hold
nothing that differs between two runs on the same data (the status files are git-ignored).
A stage's report is *current* when it succeeded after its last failure, the files it read and
wrote are still the files there now, and the stages it read from are current themselves;
otherwise it is *stale* (from an earlier run, or its output was replaced since), *failed* or
*not run*.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alphaloop.workspace import Workspace, file_md5, read_json, write_json

HEADLINES = Path("data/text/headlines.csv")


@dataclass(frozen=True)
class StageFiles:
    """What a stage reads and writes, and its main report (as ``dvc.yaml`` declares)."""

    reads: tuple[Path, ...]
    writes: tuple[Path, ...]
    report: Path
    upstream: tuple[str, ...]


def stage_files(ws: Workspace) -> dict[str, StageFiles]:
    """The pipeline's stages in order, with the files that chain them."""
    predictions = (ws.walk_forward_windows, ws.walk_forward_predictions)
    return {
        "ingest": StageFiles((), (ws.raw_bars,), ws.report("ingest"), ()),
        "validate": StageFiles((ws.raw_bars,), (ws.validated_bars,), ws.report("validation"),
                               ("ingest",)),
        "features": StageFiles((ws.validated_bars,), (ws.features,), ws.report("features"),
                               ("validate",)),
        "train": StageFiles((ws.features,), (ws.oof_predictions,), ws.report("train_metrics"),
                            ("features",)),
        "walk_forward": StageFiles((ws.features,), predictions, ws.report("walk_forward"),
                                   ("features",)),
        "backtest": StageFiles((ws.features, *predictions), (), ws.report("backtest_metrics"),
                               ("walk_forward",)),
        "register": StageFiles((ws.features,), (), ws.registered("ensemble"), ("train",)),
        "train_sentiment": StageFiles((ws.path(HEADLINES),), (), ws.report("sentiment_metrics"),
                                      ()),
        "train_regime": StageFiles((ws.validated_bars,), (), ws.report("regime_metrics"),
                                   ("validate",)),
    }


def status_path(ws: Workspace, stage: str) -> Path:
    return ws.reports / "status" / f"{stage}.json"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _md5s(paths: tuple[Path, ...]) -> dict[str, str]:
    return {str(p): file_md5(p) for p in paths if p.is_file()}


def record_success(ws: Workspace, stage: str) -> dict[str, Any]:
    """Write the stage's ``ok`` record and stamp it into its report as ``run``."""
    files = stage_files(ws)[stage]
    record = {"stage": stage, "status": "ok",
              "data_version": file_md5(ws.raw_bars) if ws.raw_bars.is_file() else None,
              "reads": _md5s(files.reads), "writes": _md5s(files.writes)}
    write_json(status_path(ws, stage), {**record, "finished": _now()})
    if files.report.is_file():
        write_json(files.report, {**read_json(files.report), "run": record})
    return record


def record_failure(ws: Workspace, stage: str, error: str) -> None:
    write_json(status_path(ws, stage), {"stage": stage, "status": "failed",
                                        "finished": _now(), "error": error})


@dataclass(frozen=True)
class StageState:
    """One stage as the summary sees it: ``current``, ``stale``, ``failed`` or ``not run``."""

    stage: str
    state: str
    detail: str = ""
    record: dict[str, Any] | None = None
    finished: str | None = None  # when this machine last ran it (the status file)

    @property
    def current(self) -> bool:
        return self.state == "current"


def stage_states(ws: Workspace) -> dict[str, StageState]:
    """Each stage's state, upstream first (see the module docstring)."""
    states: dict[str, StageState] = {}
    for stage, files in stage_files(ws).items():
        states[stage] = _state(ws, stage, files, states)
    return states


def _load(path: Path) -> dict[str, Any] | None:
    try:
        return read_json(path) if path.is_file() else None
    except json.JSONDecodeError:
        return None


def _state(ws: Workspace, stage: str, files: StageFiles,
           states: dict[str, StageState]) -> StageState:
    status, report = _load(status_path(ws, stage)), _load(files.report)
    if status and status.get("status") == "failed":
        return StageState(stage, "failed", f"{status.get('error', '')} ({status['finished']})",
                          status)
    if report is None:
        return StageState(stage, "not run", "no report")
    record = report.get("run")
    if not isinstance(record, dict):
        return StageState(stage, "stale", "the report has no run record (an older run)")
    for kind in ("reads", "writes"):
        for path, md5 in record.get(kind, {}).items():
            now = file_md5(Path(path)) if Path(path).is_file() else None
            if now != md5:
                why = ("is missing" if now is None else
                       "has changed since this report was written" if kind == "reads" else
                       "is not the file this stage wrote (replaced since, e.g. by a CLI "
                       "command writing to the pipeline's path)")
                return StageState(stage, "stale", f"{path} {why}", record)
    behind = [s for s in files.upstream if not states[s].current]
    if behind:
        return StageState(stage, "stale", f"made from an earlier run: {', '.join(behind)} "
                          f"{'is' if len(behind) == 1 else 'are'} "
                          f"{' / '.join(states[s].state for s in behind)}", record)
    finished = status.get("finished") if status else None
    return StageState(stage, "current", "", record, finished)
