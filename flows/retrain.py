"""Prefect flows: the retraining cycle, the drift monitor and the Dask fan-out.

- ``retrain``: one model kind on the newest ``retrain.training_window_days`` of the configured
  source; each stage is a Prefect task (ingest retries when the source is an exchange); the
  gate decides; a markdown artifact shows the champion/challenger table, the decision and the
  data window. Any failure leaves the champion untouched and fails the run with its reason.
- ``drift_check``: features of the newest window against the champion's training profile
  (PSI) and the champion's age; above the thresholds it runs ``retrain`` at once.
- ``retrain_fan_out``: the markets in ``retrain.fan_out.tasks`` in parallel on Dask.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from alphaloop.config import CcxtSource, Params, load_params, registry_config
from alphaloop.registry.lifecycle import RegistryConfig
from alphaloop.retrain.config import ModelKind
from alphaloop.retrain.cycle import (
    CycleReport,
    Step,
    plain_step,
    run_cycle,
    with_market,
    with_threads,
)
from alphaloop.retrain.report import failure_markdown, markdown
from alphaloop.workspace import Workspace

EXCHANGE_RETRIES = 3


def registry_for(root: Path) -> RegistryConfig:
    config: RegistryConfig = registry_config(root)
    return config


def new_workspace(params: Params, root: Path, kind: str, market: str) -> Workspace:
    """A fresh folder per run, so concurrent and successive runs never collide."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    base = Path(params.retrain.workspace_root)
    base = base if base.is_absolute() else root / base
    path = base / kind / market / f"{stamp}-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    return Workspace(path)


def prefect_step(params: Params) -> Step:
    """Each stage as a Prefect task; only an exchange download is retried."""
    exchange = isinstance(params.ingest.source, CcxtSource)

    def step(name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        retries = EXCHANGE_RETRIES if name == "ingest" and exchange else 0
        stage = task(name=name, cache_policy=NO_CACHE, retries=retries,
                     retry_delay_seconds=[10, 60, 300][:retries] or 0)(fn)
        return stage(*args, **kwargs)

    return step


def _load(params_path: str, root: str) -> tuple[Params, Path]:
    base = Path(root).resolve()
    path = Path(params_path)
    return load_params(path if path.is_absolute() else base / path), base


@flow(name="retrain", flow_run_name="retrain-{kind}")
def retrain(kind: ModelKind = "ensemble", params_path: str = "params.yaml",
            root: str = ".", as_of: str | None = None) -> dict[str, Any]:
    """One retraining cycle of ``kind``; fails (champion untouched) on any stage failure.

    ``as_of``: train on the bars stamped before this UTC time only (default: all bars).
    """
    logger = get_run_logger()
    params, base = _load(params_path, root)
    ws = new_workspace(params, base, kind, "default")
    logger.info("retraining %s in %s", kind, ws.root)
    try:
        report = run_cycle(params, kind, ws, registry_for(base), prefect_step(params),
                           as_of=as_of)
    except Exception as exc:
        create_markdown_artifact(failure_markdown(kind, exc), key=f"retrain-{kind}",
                                 description=f"retrain {kind}: failed")
        raise
    create_markdown_artifact(markdown(report), key=f"retrain-{kind}",
                             description=f"retrain {kind}: {_verdict(report)}")
    logger.info("%s: %s", kind, _verdict(report))
    return report.to_dict()


def _verdict(report: CycleReport) -> str:
    r = report.registration
    if r is None:
        return "nothing registered"
    return (f"v{r.version} promoted to champion" if r.promoted
            else f"v{r.version} stays challenger; champion "
                 f"{'v' + r.champion_version if r.champion_version else 'none'}")


@flow(name="drift-check", flow_run_name="drift-check-{kind}")
def drift_check(kind: ModelKind = "ensemble", params_path: str = "params.yaml",
                root: str = ".") -> dict[str, Any]:
    """Measure the champion's drift and age; retrain now when a threshold is crossed."""
    from alphaloop.retrain.drift_check import measure_drift
    from alphaloop.stages import data

    logger = get_run_logger()
    params, base = _load(params_path, root)
    ws = new_workspace(params, base, f"{kind}-drift", "default")
    step = prefect_step(params)
    raw = step("ingest", data.ingest, params.ingest, ws, None,
               params.retrain.training_window_days).frame
    bars, _ = step("validate", data.validate, params.validate_, raw, "drift window", ws, False)
    feats = step("features", data.features, params.features, bars, ws).frame
    drift = measure_drift(params, feats, registry_for(base), datetime.now(UTC))
    reasons = (drift or {}).get("early_retrain", [])
    result: dict[str, Any] = {"drift": drift, "retrained": None}
    if reasons:
        logger.warning("early retrain of %s: %s", kind, "; ".join(reasons))
        result["retrained"] = retrain(kind, params_path, str(base))
    else:
        logger.info("%s: no early retrain (%s)", kind,
                    "no champion yet" if drift is None else "drift and age within limits")
    return result


@task(name="market-cycle", cache_policy=NO_CACHE)
def market_cycle(params_path: str, root: str, market: str, kind: ModelKind) -> dict[str, Any]:
    """One market's whole cycle inside a Dask worker (stages called directly)."""
    params, base = _load(params_path, root)
    spec = next(t for t in params.retrain.fan_out.tasks if t.name == market)
    params = with_threads(with_market(params, spec), params.retrain.fan_out.threads_per_model)
    ws = new_workspace(params, base, kind, market)
    started = time.time()
    report = run_cycle(params, kind, ws, registry_for(base), plain_step, market=market)
    return {**report.to_dict(), "started": started, "ended": time.time(), "pid": os.getpid()}


def dask_runner(params: Params) -> Any:
    """A LocalCluster of ``n_workers`` single-threaded processes, or a scheduler by address."""
    from prefect_dask import DaskTaskRunner

    fan = params.retrain.fan_out
    if fan.dask_address:
        return DaskTaskRunner(address=fan.dask_address)
    # One thread per worker process for every native pool too (OpenMP, BLAS): two workers on
    # two cores, not two workers each starting a pool per core.
    single = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1")
    return DaskTaskRunner(cluster_kwargs={"n_workers": fan.n_workers, "threads_per_worker": 1,
                                          "processes": True, "dashboard_address": None,
                                          "env": single})


@flow(name="retrain-fan-out")
def retrain_fan_out(kind: ModelKind = "ensemble", params_path: str = "params.yaml",
                    root: str = ".") -> list[dict[str, Any]]:
    """Every market of ``retrain.fan_out.tasks``, submitted together to the task runner."""
    params, base = _load(params_path, root)
    markets = [t.name for t in params.retrain.fan_out.tasks]
    if not markets:
        raise ValueError("retrain.fan_out.tasks is empty: list the markets to retrain")
    # Create the store once here: workers migrating an empty sqlite db together collide.
    registry_for(base).connect()
    futures = [market_cycle.submit(params_path, str(base), m, kind) for m in markets]
    return [f.result() for f in futures]


def fan_out(kind: ModelKind = "ensemble", params_path: str = "params.yaml",
            root: str = ".") -> list[dict[str, Any]]:
    """Run ``retrain_fan_out`` on the Dask runner the params configure."""
    params, _ = _load(params_path, root)
    runner_flow = retrain_fan_out.with_options(task_runner=dask_runner(params))
    return runner_flow(kind, params_path, root)  # type: ignore[no-any-return]
