"""One retraining cycle: the same stage functions DVC runs, on the newest window, then the gate.

``run_cycle`` takes a ``step`` wrapper so the Prefect flow can make each stage a task (with
retries, states and logs) while a Dask worker or a test calls the functions directly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from alphaloop.config import Params
from alphaloop.registry.lifecycle import Registration, RegistryConfig
from alphaloop.retrain.config import MarketTask, ModelKind
from alphaloop.workspace import Workspace

log = logging.getLogger(__name__)

Step = Callable[..., Any]  # step(name, fn, *args, **kwargs) -> fn(*args, **kwargs)
HEADLINES = Path("data/text/headlines.csv")


def plain_step(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a stage directly (Dask workers, tests, the replay)."""
    return fn(*args, **kwargs)


@dataclass
class CycleReport:
    """What one cycle did: data window, gate result, drift, timings."""

    kind: ModelKind
    market: str
    workspace: str
    registration: Registration | None = None
    window: dict[str, Any] = field(default_factory=dict)
    drift: dict[str, Any] | None = None
    early_retrain: list[str] = field(default_factory=list)
    backtest: dict[str, Any] | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "market": self.market, "workspace": self.workspace,
                "window": self.window, "drift": self.drift, "early_retrain": self.early_retrain,
                "backtest": self.backtest, "seconds": round(self.seconds, 2),
                "registration": self.registration.to_dict() if self.registration else None}


def with_market(params: Params, market: MarketTask | None) -> Params:
    """Params for one market of a fan-out: its source, window and section overrides."""
    if market is None:
        return params
    # train's fold keys belong to cv: (Params refuses them under train:), so leave them out.
    data = params.model_dump(by_alias=True, mode="json",
                             exclude={"train": {"n_splits", "embargo"}})
    data["ingest"] = {"source": market.source}
    for section, values in market.overrides.items():
        if isinstance(values, dict) and isinstance(data.get(section), dict):
            data[section] = {**data[section], **values}
        else:
            data[section] = values
    data["retrain"]["training_window_days"] = market.training_window_days
    return Params.model_validate(data)


def with_threads(params: Params, threads: int | None) -> Params:
    """Every ensemble member limited to ``threads`` (one per model when fanned out)."""
    if threads is None:
        return params
    keys = {"lightgbm": "n_jobs", "xgboost": "n_jobs", "catboost": "thread_count"}
    members = {name: {**cfg, keys[name]: threads} if name in keys else dict(cfg)
               for name, cfg in params.train.members.items()}
    return params.model_copy(update={"train": params.train.model_copy(
        update={"members": members})})


def run_cycle(params: Params, kind: ModelKind, ws: Workspace, registry: RegistryConfig,
              step: Step = plain_step, *, market: str = "default",
              raw: pd.DataFrame | None = None, headlines: Path | None = None,
              before_commit: Callable[[], None] | None = None,
              as_of: str | None = None) -> CycleReport:
    """Retrain one model kind on the newest window and let the gate decide.

    Args:
        raw: Raw bars to use instead of ingesting (the replay's as-of slice).
        headlines: The labelled headline file (sentiment); default ``data/text/headlines.csv``
            under ``registry.root``.
        as_of: Train only on bars stamped before this UTC time (a retrain "as of" a date).
    """
    start = time.perf_counter()
    report = CycleReport(kind, market, str(ws.root))
    if kind == "sentiment":
        _sentiment(params, ws, registry, step, report,
                   headlines or registry.root / HEADLINES)
    else:
        bars = _bars(params, ws, step, raw, report, as_of)
        if kind == "regime":
            from alphaloop.stages import regime

            result = step("train_regime", regime.train, params, bars, ws)
            report.registration = step("register", regime.register_regime, params, bars,
                                       result, ws, registry)
        else:
            _ensemble(params, bars, ws, registry, step, report, before_commit)
    report.seconds = time.perf_counter() - start
    return report


def _bars(params: Params, ws: Workspace, step: Step, raw: pd.DataFrame | None,
          report: CycleReport, as_of: str | None = None) -> pd.DataFrame:
    from alphaloop.stages import data

    window = params.retrain.training_window_days
    if raw is None:
        raw = step("ingest", data.ingest, params.ingest, ws, None, window, as_of).frame
    bars, _ = step("validate", data.validate, params.validate_, raw, "retrain window", ws,
                   False)
    report.window = {"first": str(bars["timestamp"].iloc[0]),
                     "last": str(bars["timestamp"].iloc[-1]), "bars": len(bars),
                     "window_days": window, "symbol": str(bars["symbol"].iloc[0]),
                     "timeframe": str(bars["timeframe"].iloc[0])}
    return bars


def _ensemble(params: Params, bars: pd.DataFrame, ws: Workspace, registry: RegistryConfig,
              step: Step, report: CycleReport,
              before_commit: Callable[[], None] | None) -> None:
    from alphaloop.retrain.drift_check import measure_drift
    from alphaloop.stages import data, ensemble
    from alphaloop.stages.evaluate import evaluate
    from alphaloop.stages.register import register_ensemble

    feats = step("features", data.features, params.features, bars, ws).frame
    trained = step("train", ensemble.train, params, feats, ws)
    report.drift = step("drift", measure_drift, params, feats, registry, datetime.now(UTC))
    if report.drift is not None:
        report.early_retrain = list(report.drift.get("early_retrain", []))
    if params.retrain.backtest:
        report.backtest = step("evaluate", evaluate, params, feats, ws)
    report.registration = step("register", register_ensemble, params, feats,
                               trained.predictor, ws, registry, backtest=report.backtest,
                               oof_metrics=trained.metrics, before_commit=before_commit)


def _sentiment(params: Params, ws: Workspace, registry: RegistryConfig, step: Step,
               report: CycleReport, headlines: Path) -> None:
    from alphaloop.models.sentiment import load_headlines
    from alphaloop.stages import sentiment

    frame = step("load_headlines", load_headlines, headlines)
    report.window = {"rows": len(frame), "file": str(headlines)}
    result = step("train_sentiment", sentiment.train, params, frame, ws)
    report.registration = step("register", sentiment.register_sentiment, params, frame,
                               headlines, result, ws, registry)
