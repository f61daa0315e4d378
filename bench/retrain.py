"""Retrain fan-out: every market of ``retrain.fan_out.tasks`` one after another vs on Dask.

Usage: python bench/retrain.py [--params PATH] [--scale S] [--results PATH]

Both modes retrain the ensemble of each market in ``retrain.fan_out.tasks`` of the
repository's params.yaml (the three bundled data sets), with ``retrain.backtest`` off, so a
cycle is ingest, validate, features, training (purged k-fold + the deployable fit), drift and
the registry gate. Each mode gets its own fresh temporary project root (a copy of
params.yaml, its own sqlite registry), so the two never see each other's champions.

- sequential: ``run_cycle`` for each market in turn in this process, twice: every model at 2
  threads (as in ``train:``, the fastest way to run them one after another here) and at 1
  thread (the same per-model set-up as on Dask, so the ratio shows what the fan-out adds);
- dask: ``flows.retrain.fan_out`` on a LocalCluster of ``n_workers`` (2) single-threaded
  processes, one thread per model (``threads_per_model: 1``). Its wall time includes
  starting and closing the cluster and the workers' imports. The Prefect API is the one
  ``PREFECT_API_URL`` names, or a throwaway local server started before the clock starts.

``--scale`` multiplies every member's tree count (and early-stopping patience) to shrink the
models; the output says when it is not 1. The ratio sequential / dask replaces the
``## Retrain fan-out`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

# The repository root: the workers import the flow's task (``flows.retrain``) by reference.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import RESULTS, machine, today, update_section

REPO = Path(__file__).resolve().parents[1]

SEQUENTIAL_THREADS = 2
TREES = {"lightgbm": "n_estimators", "xgboost": "n_estimators", "catboost": "iterations"}
TARGET = 1.6


def project(params: Path, scale: float) -> Path:
    """A fresh project root: params.yaml copied, walk-forward off, models scaled."""
    raw: dict[str, Any] = yaml.safe_load(params.read_text())
    raw["retrain"]["backtest"] = False
    fan = raw["retrain"].setdefault("fan_out", {})
    fan.update({"dask_address": None, "n_workers": 2, "threads_per_model": 1})
    if scale != 1:
        for name, cfg in raw["train"]["members"].items():
            if name in TREES:
                cfg[TREES[name]] = max(10, round(cfg[TREES[name]] * scale))
        rounds = raw["train"].get("early_stopping_rounds")
        if rounds:
            raw["train"]["early_stopping_rounds"] = max(5, round(rounds * scale))
    root = Path(tempfile.mkdtemp(prefix="alphaloop-bench-retrain-"))
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return root


def sequential(root: Path, threads: int) -> tuple[float, list[dict[str, Any]]]:
    """Each market's cycle in this process, one after another, models at ``threads``."""
    from alphaloop.config import load_params
    from alphaloop.retrain.cycle import plain_step, run_cycle, with_market, with_threads
    from flows.retrain import new_workspace, registry_for

    params = load_params(root / "params.yaml")
    rows = []
    start = time.perf_counter()
    for spec in params.retrain.fan_out.tasks:
        market = with_threads(with_market(params, spec), threads)
        ws = new_workspace(market, root, "ensemble", spec.name)
        began = time.perf_counter()
        report = run_cycle(market, "ensemble", ws, registry_for(root), plain_step,
                           market=spec.name)
        rows.append({**report.to_dict(), "wall": time.perf_counter() - began,
                     "pid": os.getpid()})
    return time.perf_counter() - start, rows


@contextlib.contextmanager
def prefect_api() -> Iterator[str]:
    """The configured Prefect API, or a throwaway local server for the run."""
    if os.environ.get("PREFECT_API_URL"):
        yield "PREFECT_API_URL"
        return
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield "a throwaway local Prefect server"


def dask(root: Path) -> tuple[float, list[dict[str, Any]]]:
    """``fan_out`` on a LocalCluster of 2 single-threaded workers, one thread per model."""
    from flows.retrain import fan_out

    start = time.perf_counter()
    results = fan_out("ensemble", "params.yaml", str(root))
    wall = time.perf_counter() - start
    return wall, [{**r, "wall": r["ended"] - r["started"]} for r in results]


def packing_bound(seconds: list[float], workers: int) -> float:
    """Sequential / makespan if the markets took the same time on one thread as on two."""
    loads = [0.0] * workers
    for s in sorted(seconds, reverse=True):  # longest first onto the least loaded worker
        loads[loads.index(min(loads))] += s
    return sum(seconds) / max(loads)


def model_sizes(params: Path, scale: float) -> str:
    raw = yaml.safe_load(params.read_text())
    members = raw["train"]["members"]
    parts = []
    for name, cfg in members.items():
        trees = cfg.get(TREES.get(name, ""), "?")
        trees = max(10, round(trees * scale)) if scale != 1 and trees != "?" else trees
        shape = (f"{cfg['num_leaves']} leaves" if "num_leaves" in cfg
                 else f"depth {cfg.get('depth', cfg.get('max_depth', '?'))}")
        parts.append(f"{name} {trees} trees ({shape})")
    rounds = raw["train"].get("early_stopping_rounds")
    if scale != 1 and rounds:
        rounds = max(5, round(rounds * scale))
    return (", ".join(parts) + f"; early stopping {rounds} rounds; "
            f"{raw['cv']['n_splits']}-fold purged CV + the deployable fit")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=REPO / "params.yaml")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every member's tree count (default 1: as in params)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()

    from pipelines.common import OFFLINE_ENV, RUNTIME_ENV

    for key, value in {**OFFLINE_ENV, **RUNTIME_ENV}.items():
        os.environ.setdefault(key, value)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    logging.basicConfig(level=logging.WARNING, force=True)

    load_before = os.getloadavg()[0]
    seq_root = project(args.params, args.scale)
    one_root = project(args.params, args.scale)
    dask_root = project(args.params, args.scale)
    try:
        seq_wall, seq_rows = sequential(seq_root, SEQUENTIAL_THREADS)
        one_wall, one_rows = sequential(one_root, 1)
        load_mid = os.getloadavg()[0]
        with prefect_api() as api:
            dask_wall, dask_rows = dask(dask_root)
        load_after = os.getloadavg()[0]
    finally:
        shutil.rmtree(seq_root, ignore_errors=True)
        shutil.rmtree(one_root, ignore_errors=True)
        shutil.rmtree(dask_root, ignore_errors=True)

    span = max(r["ended"] for r in dask_rows) - min(r["started"] for r in dask_rows)
    measured = {
        "scale": args.scale, "models": model_sizes(args.params, args.scale), "api": api,
        "cores": os.cpu_count(), "loads": (load_before, load_mid, load_after),
        "seq_wall": seq_wall, "one_wall": one_wall, "dask_wall": dask_wall, "span": span,
        "overhead": dask_wall - span,
        "pids": len({r["pid"] for r in dask_rows}),
        "markets": [{"market": r["market"], "timeframe": r["window"]["timeframe"],
                     "bars": r["window"]["bars"], "sequential": r["wall"],
                     "one_thread": next(o["wall"] for o in one_rows
                                        if o["market"] == r["market"]),
                     "dask": next(d["wall"] for d in dask_rows if d["market"] == r["market"]),
                     "promoted": bool(r["registration"]["promoted"])} for r in seq_rows],
    }
    section = render(measured)
    update_section("Retrain fan-out", section, args.results)
    print(section)
    return 0


def render(m: dict[str, Any]) -> str:
    """The ``## Retrain fan-out`` section from the measurements."""
    markets = m["markets"]
    ratio = m["seq_wall"] / m["dask_wall"]
    like = m["one_wall"] / m["dask_wall"]
    bound = packing_bound([r["one_thread"] for r in markets], 2)
    slow = [r["dask"] / r["sequential"] for r in markets]
    table = "\n".join(
        f"| {r['market']} | {r['timeframe']} | {r['bars']:,} | {r['sequential']:.1f} | "
        f"{r['one_thread']:.1f} | {r['dask']:.1f} | "
        f"{'champion' if r['promoted'] else 'challenger'} |"
        for r in markets)
    verdict = "meets" if like >= TARGET else "below"
    scale = m["scale"]
    scaled = ("" if scale == 1 else
              f" **Models scaled by {scale:g}** (tree counts and early stopping).")
    why = (f"\n\nWhat limits it: {len(markets)} markets on 2 workers pack unevenly (at most "
           f"{bound:.2f}× over the 1-thread sequential run even with no contention); "
           f"{m['overhead']:.1f} s of the Dask wall time is outside the cycles (starting and "
           "closing the cluster, the workers' first imports, the Prefect task runs; "
           f"without it the ratio would be {m['one_wall'] / m['span']:.2f}×); and two cycles "
           "at once share the memory bandwidth and the machine's other work: on a worker each "
           f"cycle took {min(slow):.2f}–{max(slow):.2f}× its 2-thread sequential time. "
           f"Against the 2-thread sequential run the fan-out gains little ({ratio:.2f}×): "
           "that run already keeps both cores busy inside each model.")
    before, mid, after = m["loads"]
    return (
        "## Retrain fan-out\n\n"
        f"`python bench/retrain.py{'' if scale == 1 else f' --scale {scale:g}'}`: "
        "the ensemble cycle of every market in `retrain.fan_out.tasks` of `params.yaml` "
        "(bundled data; `retrain.backtest: false`, so ingest, validate, features, training, "
        "drift and the gate), each mode in its own fresh project root and sqlite registry. "
        "Sequential: `run_cycle` per market in one process, models at "
        f"{SEQUENTIAL_THREADS} threads, then again at 1 thread. Dask: `flows.retrain.fan_out` "
        "on a LocalCluster of 2 single-threaded worker processes, one thread per model; its "
        "wall time includes starting and "
        f"closing the cluster (Prefect API: {m['api']}, started before the clock).{scaled}\n\n"
        f"Models: {m['models']}.\n\n"
        "| market | bar | window bars | sequential, 2 threads (s) | sequential, 1 thread (s) "
        "| on a Dask worker (s) | gate |\n"
        "|---|---|---:|---:|---:|---:|---|\n"
        f"{table}\n\n"
        "| mode | wall (s) |\n|---|---:|\n"
        f"| sequential, {SEQUENTIAL_THREADS} threads per model | {m['seq_wall']:.1f} |\n"
        f"| sequential, 1 thread per model | {m['one_wall']:.1f} |\n"
        f"| Dask, 2 workers × 1 thread ({m['pids']} worker processes used) | "
        f"{m['dask_wall']:.1f} |\n"
        f"| **sequential (1 thread) / Dask**: the same models, one after another vs fanned "
        f"out | **{like:.2f}×** ({verdict} the {TARGET}× goal) |\n"
        f"| sequential ({SEQUENTIAL_THREADS} threads) / Dask | {ratio:.2f}× |"
        f"{why}\n\n"
        f"Machine: {machine()} ({m['cores']} cores); 1-minute load average {before:.2f} "
        f"before, {mid:.2f} after the sequential run, {after:.2f} after the Dask "
        f"run (other work on the machine shows up here); date {today()}.\n"
    )


if __name__ == "__main__":
    raise SystemExit(main())
