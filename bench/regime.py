"""Regime forecaster: training wall time, held-out errors and single-forecast latency.

Usage: python bench/regime.py [--synthetic] [--rows N] [--repeats R] [--threads T]
[--results PATH]

Trains ``RegimeForecaster`` with the default ``RegimeParams`` on the closes of
``data/validated/bars.parquet`` (BTC-USD 15m), or on synthetic GARCH(1,1) closes (8,000 bars)
when the file is missing or with ``--synthetic``. Reports the held-out errors of the model
beside the persistence, zero, training-mean and GARCH baselines, then times one forecast
(``forecast_both`` on ``context_length + 1`` closes, input checks included) natively in
torch and in ONNX Runtime (one intra-op thread), and the bare network call of each. Each
latency is the median of ``--repeats`` calls after warm-up. The result replaces the
``## Regime forecaster`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alphaloop.models.regime import RegimeForecaster, RegimeParams, RegimeReport

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import RESULTS, machine, median_us, today, update_section

BARS = Path("data/validated/bars.parquet")


def synthetic_closes(rows: int, seed: int = 0) -> pd.Series:
    """Closes whose one-bar returns follow a GARCH(1,1) at a 15-minute BTC-like scale."""
    rng = np.random.default_rng(seed)
    omega, alpha, beta = 1.3e-6, 0.15, 0.75
    var, returns = omega / (1 - alpha - beta), np.empty(rows)
    for i in range(rows):
        returns[i] = np.sqrt(var) * rng.standard_normal()
        var = omega + alpha * returns[i] ** 2 + beta * var
    index = pd.date_range("2024-01-01", periods=rows, freq="15min", tz="UTC")
    return pd.Series(30_000.0 * np.exp(np.cumsum(returns)), index=index, name="close")


def load_closes(force_synthetic: bool, rows: int) -> tuple[pd.Series, str]:
    """Closes and a description of where they came from."""
    if BARS.exists() and not force_synthetic:
        bars = pd.read_parquet(BARS, columns=["timestamp", "close"])
        return bars.set_index("timestamp")["close"], f"`{BARS}` (BTC-USD 15m)"
    return synthetic_closes(rows), f"synthetic GARCH(1,1) closes, {rows:,} bars"



def latencies(native: RegimeForecaster, runtime: RegimeForecaster, closes: pd.Series,
              repeats: int) -> dict[str, tuple[float, float]]:
    """Case -> (torch us, ONNX Runtime us)."""
    import torch

    history = closes.iloc[-(native.params.context_length + 1):]
    window = np.diff(np.log(history.to_numpy()))[None, :]
    tensor = torch.from_numpy(window.astype(np.float32))
    net = native.net

    def torch_net() -> None:
        with torch.inference_mode():
            net(tensor)

    session = runtime.runtime_session()
    inputs = {"returns": window.astype(np.float32)}

    def timed(fn: Callable[[], Any]) -> float:
        return median_us(fn, repeats, warmup=50)

    return {
        "forecast_both (public API)": (timed(lambda: native.forecast_both(history)),
                                       timed(lambda: runtime.forecast_both(history))),
        "network only (float32 window)": (timed(torch_net),
                                          timed(lambda: session.run(None, inputs))),
    }


def error_rows(report: RegimeReport) -> str:
    """Markdown rows of the held-out error table."""
    table = report.table().reindex(["model", "persistence", "zero", "train_mean", "garch"])
    lines = []
    for name, row in table.iterrows():
        cells = [("—" if pd.isna(row[c]) else f"{row[c]:.6f}") for c in table.columns[:4]]
        acc = row["directional_accuracy"]
        cells.append("—" if pd.isna(acc) else f"{acc:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(source: str, params: RegimeParams, report: RegimeReport, fit_s: float,
           save_s: float, parity: float, timings: dict[str, tuple[float, float]],
           repeats: int, threads: int) -> str:
    """Markdown section with the measured numbers."""
    counts = ", ".join(f"{k} {v:,}" for k, v in report.regime_counts.items())
    garch = ", ".join(f"{k} {v:.4g}" for k, v in report.garch_params.items())
    latency = "\n".join(f"| {case} | {t:,.0f} | {o:,.0f} | {t / o:.1f}x |"
                        for case, (t, o) in timings.items())
    return (
        "## Regime forecaster\n\n"
        f"`python bench/regime.py`: default `RegimeParams` (PatchTST regression, context "
        f"{params.context_length}, horizon {params.horizon}, d_model {params.d_model}, "
        f"{params.num_layers} layers, {params.epochs} epochs) on {source}; torch with "
        f"{threads} threads.\n\n"
        f"Training: {report.n_train:,} windows, {report.gap} dropped, {report.n_test:,} held "
        f"out (the last {params.test_fraction:.0%}). `fit` {fit_s:.1f} s (training loop "
        f"{report.train_seconds:.1f} s; GARCH and evaluation included); `save` (checkpoint, "
        f"dynamo ONNX export and parity check) {save_s:.1f} s. Max |torch - ONNX| over the "
        f"held-out windows: {parity:.1e}.\n\n"
        f"Held-out errors of the {params.horizon}-bar log return and realised volatility "
        "(directional accuracy: sign of forecast vs realised return, zero moves left out):\n\n"
        "| forecaster | return MAE | return RMSE | vol MAE | vol RMSE | direction |\n"
        "|---|---:|---:|---:|---:|---:|\n"
        f"{error_rows(report)}\n\n"
        f"GARCH(1,1) (×100 returns, fitted on training returns): {garch}. Held-out regimes "
        f"(bull above {params.bull_threshold:g}, bear below {params.bear_threshold:g}, "
        f"high_vol above {report.high_vol_threshold:.5f}): {counts}.\n\n"
        f"Single-forecast latency, median of {repeats} calls (one series of "
        f"{params.context_length + 1} closes):\n\n"
        "| case | torch (us) | ONNX Runtime (us) | torch / ONNX |\n"
        "|---|---:|---:|---:|\n"
        f"{latency}\n\n"
        f"Machine: {machine()}; date {today()}.\n"
    )


def main() -> int:
    """Train, evaluate, export, time; write the section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--rows", type=int, default=8_000)
    parser.add_argument("--repeats", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    closes, source = load_closes(args.synthetic, args.rows)
    params = RegimeParams()
    print(f"{len(closes):,} closes from {source}")

    native = RegimeForecaster(use_onnx=False, params=params)
    start = time.perf_counter()
    report = native.fit(closes)
    fit_s = time.perf_counter() - start
    print(report.table().to_string(float_format=lambda v: f"{v:.5f}"))
    print(f"fit {fit_s:.1f} s (loop {report.train_seconds:.1f} s), losses "
          f"{[round(x, 4) for x in report.epoch_losses]}, regimes {report.regime_counts}")

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        native.save(Path(tmp) / "regime")
        save_s = time.perf_counter() - start
        runtime = RegimeForecaster.load(Path(tmp) / "regime", use_onnx=True)
        parity = held_out_parity(native, runtime, closes, report)
        timings = latencies(native, runtime, closes, args.repeats)
    for case, (t, o) in timings.items():
        print(f"{case}: torch {t:,.0f} us, ONNX {o:,.0f} us")
    print(f"save {save_s:.1f} s, max |torch - ONNX| {parity:.1e}")

    update_section("Regime forecaster",
                   render(source, params, report, fit_s, save_s, parity, timings,
                          args.repeats, args.threads), args.results)
    print(f"updated {args.results}")
    return 0


def held_out_parity(native: RegimeForecaster, runtime: RegimeForecaster, closes: pd.Series,
                    report: RegimeReport) -> float:
    """Largest torch vs ONNX difference over the held-out windows (both outputs)."""
    from alphaloop.models.regime.data import make_windows

    params = native.params
    windows = make_windows(closes.to_numpy(), params.context_length, params.horizon)
    inputs = windows.inputs[-report.n_test:]
    return float(np.abs(native.forecast_windows(inputs)
                        - runtime.forecast_windows(inputs)).max())


if __name__ == "__main__":
    raise SystemExit(main())
