"""HTTP serving of the champion ensemble: `alphaloop serve` (BentoML) vs `mlflow models serve`.

Usage: python bench/serving.py [--quick] [--results PATH]

Builds a scratch project: the bundled BTC-USD 15m bars through ingest, validate and features,
the ensemble trained with ``params.yaml`` (``--quick``: 20-tree members) and registered as the
champion of its task in a scratch sqlite registry. Then, one server at a time on this machine:

- ``alphaloop serve`` without adaptive batching (the default), with it, and with it on the
  native (non-ONNX) ensemble;
- ``mlflow models serve -m models:/<task>@champion --env-manager local`` on the same version.

One load generator for all (asyncio + aiohttp, keep-alive, ``c`` connections, each request one
feature row of the newest bar) sends a fixed number of requests at concurrency 1, 16 and 64
after a warm-up; p50/p99 latency and requests per second are measured at the client. The
in-process anchor is the same row through the registered pyfunc (what ``mlflow models serve``
calls) and through the served model object (what ``alphaloop serve`` calls). The result
replaces the ``## Serving`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import RESULTS, machine, median_us, today, update_section

REPO = Path(__file__).resolve().parents[1]
LEVELS = {1: 200, 16: 800, 64: 1600}  # concurrency -> requests timed
QUICK_MEMBERS = {
    "lightgbm": {"n_estimators": 20, "num_leaves": 7, "n_jobs": 1, "verbose": -1},
    "xgboost": {"n_estimators": 20, "max_depth": 3, "n_jobs": 1, "verbosity": 0},
    "catboost": {"iterations": 20, "depth": 3, "thread_count": 1, "verbose": False,
                 "allow_writing_files": False},
}


def build_champion(root: Path, quick: bool) -> tuple[str, str, Any]:
    """Pipeline stages into ``root``; returns (registered name, version, newest feature row)."""
    from alphaloop.config import load_params
    from alphaloop.registry.lifecycle import RegistryConfig
    from alphaloop.registry.manual import promote_by_hand
    from alphaloop.stages import data, ensemble
    from alphaloop.stages.register import register_ensemble
    from alphaloop.workspace import Workspace

    params = load_params(REPO / "params.yaml")
    if quick:
        params = params.model_copy(update={"train": params.train.model_copy(
            update={"members": QUICK_MEMBERS, "early_stopping_rounds": 5})})
    ws = Workspace(root)
    raw = data.ingest(params.ingest, ws).frame
    bars, _ = data.validate(params.validate_, raw, "bench", ws, docs=False)
    features = data.features(params.features, bars, ws).frame
    result = ensemble.train(params, features, ws)
    registry = RegistryConfig(root=root)
    report = register_ensemble(params, features, result.predictor, ws, registry)
    if not report.promoted:  # the bench needs a champion, whatever the gate said
        promote_by_hand(registry, report.name, report.version, "serving benchmark")
    row = features[result.predictor.feature_columns].tail(1)
    return report.name, report.version, row


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(cmd: list[str], cwd: Path, env: dict[str, str], ready: str,
          log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{cmd[:4]} exited:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(ready, timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{ready} not ready:\n{log.read_text()[-2000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


async def load(url: str, payload: dict[str, Any], concurrency: int, requests: int
               ) -> dict[str, float]:
    """Latencies of ``requests`` POSTs with ``concurrency`` in flight (after a warm-up).

    aiohttp, not httpx: httpx's async pool alone capped a trivial 404 at ~200 req/s at c=64
    on this machine, which would have measured the client instead of the servers.
    """
    import aiohttp

    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    latencies: list[float] = []
    failures = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=120)) as session:

        async def worker(count: int, record: bool) -> None:
            nonlocal failures
            for _ in range(count):
                began = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                if record:
                    latencies.append(time.perf_counter() - began)
                    failures += response.status != 200

        await asyncio.gather(*(worker(max(2, 100 // concurrency), False)
                               for _ in range(concurrency)))
        began = time.perf_counter()
        await asyncio.gather(*(worker(requests // concurrency, True)
                               for _ in range(concurrency)))
        wall = time.perf_counter() - began
    ordered = sorted(latencies)
    return {"p50_ms": 1000 * statistics.median(ordered),
            "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
            "rps": len(ordered) / wall, "failures": failures}


def run_levels(url: str, payload: dict[str, Any]) -> dict[int, dict[str, float]]:
    levels = {}
    for c, n in LEVELS.items():
        levels[c] = asyncio.run(load(url, payload, c, n))
        print(f"  {url} c={c}: {levels[c]}", flush=True)
    return levels


def serve_alphaloop(root: Path, serving: dict[str, Any], payload: dict[str, Any],
                    label: str) -> tuple[dict[int, dict[str, float]], dict[str, Any]]:
    port = free_port()
    params = root / f"params-{label}.yaml"
    params.write_text(yaml.safe_dump({"serving": {**serving, "port": port}}))
    env = {**{k: v for k, v in os.environ.items() if k != "ALPHALOOP_API_TOKEN"},
           "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "pipelines.cli", "serve", "--params", str(params)]
    process = start(cmd, root, env, f"http://127.0.0.1:{port}/readyz",
                    root / f"serve-{label}.log")
    try:
        url = f"http://127.0.0.1:{port}/predict"
        answer = httpx.post(url, json=payload, timeout=60).json()
        return run_levels(url, payload), answer
    finally:
        stop(process)


def serve_mlflow(root: Path, name: str, row: Any) -> tuple[dict[int, dict[str, float]], float]:
    from alphaloop.registry.store import default_tracking_uri

    port = free_port()
    # It execs `uvicorn` from PATH: the one installed beside this interpreter.
    env = {**os.environ, "MLFLOW_TRACKING_URI": default_tracking_uri(root),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{name}@champion",
           "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]
    process = start(cmd, root, env, f"http://127.0.0.1:{port}/ping", root / "mlflow-serve.log")
    payload = {"dataframe_split": {"columns": list(row.columns),
                                   "data": row.to_numpy(dtype=float).tolist()}}
    try:
        url = f"http://127.0.0.1:{port}/invocations"
        answer = httpx.post(url, json=payload, timeout=60).json()
        p_up = float(answer["predictions"][0]["p_up"])
        return run_levels(url, payload), p_up
    finally:
        stop(process)


def in_process(root: Path, name: str, version: str, row: Any) -> dict[str, float]:
    import mlflow

    from alphaloop.registry.store import default_tracking_uri
    from alphaloop.registry.task import Task
    from alphaloop.serving.loaders import LoadOptions, load_version

    mlflow.set_tracking_uri(default_tracking_uri(root))
    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    client = mlflow.MlflowClient()
    task = Task.from_tags(dict(client.get_registered_model(name).tags))
    assert task is not None
    served = load_version(client, name, version, task, "champion", LoadOptions())
    matrix = np.ascontiguousarray(row.to_numpy(dtype=np.float32))
    model: Any = served.model
    return {"pyfunc_us": median_us(lambda: pyfunc.predict(row), 500),
            "served_us": median_us(lambda: model.predict_proba(matrix), 2000),
            "pyfunc_p_up": float(pyfunc.predict(row)["p_up"].iloc[0]),
            "runtime": served.runtime}


def table(runs: dict[str, dict[int, dict[str, float]]]) -> list[str]:
    lines = ["| server | c | p50 (ms) | p99 (ms) | req/s | failed |",
             "|---|---:|---:|---:|---:|---:|"]
    for label, levels in runs.items():
        for c, m in levels.items():
            lines.append(f"| {label} | {c} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | "
                         f"{m['rps']:.0f} | {m['failures']:.0f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20-tree members")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    for key, value in {"BENTOML_DO_NOT_TRACK": "true", "DO_NOT_TRACK": "true",
                       "MLFLOW_DISABLE_TELEMETRY": "true", "GX_ANALYTICS_ENABLED": "false",
                       "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}.items():
        os.environ.setdefault(key, value)
    with tempfile.TemporaryDirectory(prefix="alphaloop-bench-serving-") as tmp:
        root = Path(tmp)
        load_before = os.getloadavg()[0]
        began = time.perf_counter()
        name, version, row = build_champion(root, args.quick)
        print(f"champion {name} v{version} ready in {time.perf_counter() - began:.0f} s")
        anchor = in_process(root, name, version, row)
        payload = {"symbol": "BTC-USD", "timeframe": "15m",
                   "features": row.to_dict("records")}
        base = {"poll_interval_s": 30.0}
        runs: dict[str, dict[int, dict[str, float]]] = {}
        runs["alphaloop, no batching"], answer = serve_alphaloop(
            root, {**base, "batching": False}, payload, "nobatch")
        runs["alphaloop, batching"], _ = serve_alphaloop(
            root, {**base, "batching": True}, payload, "batch")
        runs["alphaloop, batching, native"], _ = serve_alphaloop(
            root, {**base, "batching": True, "onnx": False}, payload, "native")
        runs["mlflow models serve"], mlflow_p_up = serve_mlflow(root, name, row)
    served_p_up = answer["predictions"][0]["p_up"]
    theirs = runs["mlflow models serve"]
    ours = runs["alphaloop, no batching"]  # the default (serving.batching: false)
    rps_ratio = ours[64]["rps"] / theirs[64]["rps"]
    batched_ratio = runs["alphaloop, batching"][64]["rps"] / theirs[64]["rps"]
    ratio = ours[1]["p50_ms"] * 1000 / anchor["pyfunc_us"]
    goal = rps_ratio >= 2 and ours[64]["p50_ms"] < theirs[64]["p50_ms"]
    lines = [
        "## Serving", "",
        f"`python bench/serving.py{' --quick' if args.quick else ''}`: the champion "
        f"ensemble ({'20-tree members' if args.quick else 'params.yaml members'}, "
        f"{row.shape[1]} features) of BTC-USD 15m trained and registered in a scratch sqlite "
        "registry, one server at a time on this machine, one load generator (asyncio + "
        "aiohttp, keep-alive) on the same 2 cores, each request one feature row. Requests "
        f"timed per level: {', '.join(f'c={c}: {n:,}' for c, n in LEVELS.items())} after a "
        "warm-up. `alphaloop serve`: 1 BentoML worker, ONNX Runtime ensemble unless "
        "\"native\", max_batch_size 64, max_latency_ms 1000 when batching. `mlflow models "
        "serve --env-manager local`: its defaults (1 uvicorn worker) on the same registered "
        f"version. 1-minute load average before the first run: {load_before:.2f} (the "
        "machine is shared).", "",
        *table(runs), "",
        f"At c=64, `alphaloop serve` (default, no batching) / `mlflow models serve` = "
        f"**{rps_ratio:.1f}x** req/s, p50 {ours[64]['p50_ms']:.1f} ms vs "
        f"{theirs[64]['p50_ms']:.1f} ms: goal (>= 2x req/s and a lower p50) "
        f"**{'met' if goal else 'not met'}**. With adaptive batching on: {batched_ratio:.1f}x; "
        "batching is slower than no batching for this model (see the README).", "",
        f"In process, same row: the registered pyfunc's `predict` (what `mlflow models "
        f"serve` runs) {anchor['pyfunc_us']:,.0f} us; the served model object "
        f"({anchor['runtime']}, what `alphaloop serve` runs) {anchor['served_us']:,.0f} us. "
        f"HTTP p50 at c=1 (default) / pyfunc in process = {ratio:.2f}x; / served object = "
        f"{ours[1]['p50_ms'] * 1000 / anchor['served_us']:.0f}x (the HTTP stack, not the "
        f"model, is the latency). P(up) of the row: alphaloop {served_p_up:.6f}, mlflow "
        f"{mlflow_p_up:.6f}, pyfunc in process {anchor['pyfunc_p_up']:.6f}.", "",
        f"Machine: {machine()}; date {today()}.", ""]
    update_section("Serving", "\n".join(lines), args.results)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
