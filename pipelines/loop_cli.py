"""``alphaloop loop``: one turn of the whole loop on the embedded defaults.

1. **Retrain** the ensemble and the regime model through the Prefect ``retrain`` flow, *as
   of* the start of the replay period (each trains on the bars before it only);
2. **serve** every task's newest version (``alphaloop serve --alias challenger``: the models
   just trained, promoted or not) on a free local port;
3. **paper-trade** the replay period (the newest ``trader.replay.bars`` bars of
   ``ingest.source``) through the trader against that server, out of sample;
4. stop the server, write ``reports/loop.json`` and the trader's report, print the outcome.

``make run`` runs it after ``dvc repro``; every process it starts is stopped, also on error.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from pipelines import common

err = Console(stderr=True)
LOOP_STATE = Path(".alphaloop/loop")
LOOP_REPORT = Path("reports/loop.json")
ACCOUNT = "loop"


def loop(
    params: Annotated[Path, typer.Option("--params", help="Parameters file.")] = Path(
        "params.yaml"),
    bars: Annotated[int | None, typer.Option(
        "--bars", help="Bars to paper-trade (default trader.replay.bars).")] = None,
    models: Annotated[str, typer.Option(
        help="Models retrained before serving (comma-separated).")] = "ensemble,regime",
) -> None:
    """Retrain as of the replay's start, serve, paper-trade the replay, stop the server."""
    common.setup()
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from alphaloop.config import load_params
    from trader.runner import replay_frames

    cfg = load_params(params)
    if bars is not None:
        cfg = cfg.model_copy(update={"trader": cfg.trader.model_copy(update={
            "replay": cfg.trader.replay.model_copy(update={"bars": bars})})})
    frames = replay_frames(cfg, cfg.trader.symbols)
    symbol = cfg.trader.symbols[0]
    start = frames[symbol]["timestamp"].iloc[-cfg.trader.replay.bars]
    err.print(f"[bold]1/3 retrain[/bold] {models} as of {start} (the replay starts there)")
    retrained = [_retrain(kind.strip(), params, str(start)) for kind in models.split(",")]
    port = _free_port()
    err.print(f"[bold]2/3 serve[/bold] the challengers on http://127.0.0.1:{port}")
    server = _serve(params, port)
    try:
        err.print(f"[bold]3/3 paper-trade[/bold] {cfg.trader.replay.bars} bars of {symbol} "
                  f"from {start}")
        report = asyncio.run(_trade(cfg, frames, f"http://127.0.0.1:{port}"))
    finally:
        _stop(server)
    outcome = {"as_of": str(start), "retrained": retrained, "trade": report}
    LOOP_REPORT.parent.mkdir(parents=True, exist_ok=True)
    LOOP_REPORT.write_text(json.dumps(outcome, indent=2, default=str, allow_nan=True))
    from pipelines.trade_cli import _print_report

    _print_report(report, Path("reports/trader"))
    if report.get("halted"):
        raise typer.Exit(1)


def _retrain(kind: str, params: Path, as_of: str) -> dict[str, Any]:
    from flows import retrain as flows

    state = flows.retrain(kind, str(params), ".", as_of,  # type: ignore[arg-type]
                          return_state=True)
    if state.is_failed():
        err.print(f"[red]retrain {kind} failed[/red] (registry unchanged): {state.message}")
        raise typer.Exit(1)
    result: dict[str, Any] = state.result()
    reg = result.get("registration") or {}
    err.print(f"  {reg.get('model')} v{reg.get('version')}: "
              f"{'promoted to champion' if reg.get('promoted') else 'challenger (not promoted)'}"
              f"; {'; '.join(reg.get('reasons', []))}")
    return {"kind": kind, "model": reg.get("model"), "version": reg.get("version"),
            "promoted": reg.get("promoted"), "window": result.get("window")}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(params: Path, port: int) -> subprocess.Popen[bytes]:
    import httpx

    log_path = LOOP_STATE / "serve.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "serve", "--params", str(params),
             "--port", str(port), "--alias", "challenger"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"alphaloop serve exited ({process.returncode}); see {log_path}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.5)
    _stop(process)
    raise RuntimeError(f"alphaloop serve not ready after 180 s; see {log_path}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


async def _trade(cfg: Any, frames: dict[str, Any], url: str) -> dict[str, Any]:
    from alphaloop.config import Settings
    from trader.runner import build_paper, write_report

    shutil.rmtree(LOOP_STATE / "trader", ignore_errors=True)  # every loop trades afresh
    state = LOOP_STATE / "trader"
    settings = Settings(trader_store_url=f"sqlite:///{(state / 'state.db').resolve()}")
    session = build_paper(cfg, settings, serving_url=url, account=ACCOUNT,
                          token=os.environ.get("ALPHALOOP_API_TOKEN") or None,
                          state_dir=state, frames=frames)
    try:
        result = await session.trader.run(session.feed)
        return write_report(session, result, Path("reports/trader") / ACCOUNT)
    finally:
        await session.close()
