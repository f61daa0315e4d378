"""Prediction latency of the trained ensemble: native boosters vs ONNX Runtime.

Usage: python bench/predict.py [--synthetic] [--rows N] [--repeats R] [--batch-repeats B]
[--results PATH]

Trains the ensemble exactly as the pipeline does (``params.yaml``: ``train`` with the fold
layout from ``cv``, labels from ``target``) on ``data/features/features.parquet``, or on
synthetic 5,000 x 247 data when the file is missing or with
``--synthetic``; the training wall time covers the purged 5-fold OOF run and the final fit.
Then it times ``predict_proba`` for one row and for 1,024 rows, natively and through
``OnnxEnsemble`` (one intra-op thread), for the whole ensemble (input validation included)
and per member (float32 matrix in, no validation). Each figure is the median of many
repetitions. The result replaces the ``## Prediction latency`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from alphaloop.config import load_params
from alphaloop.labels import prepare_target
from alphaloop.models import EnsemblePredictor, OnnxEnsemble, export_onnx
from alphaloop.models.inputs import feature_matrix

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import RESULTS, machine, median_us, today, update_section

FEATURES = Path("data/features/features.parquet")
BATCH = 1024


def synthetic(rows: int, n_features: int = 247, seed: int = 0) -> pd.DataFrame:
    """Random-walk bars with ``n_features`` float features, a few weakly informative."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, n_features))
    step = 0.002 * (0.3 * features[:, :5].sum(axis=1) / np.sqrt(5) + rng.normal(size=rows))
    close = 100.0 * np.exp(np.cumsum(np.r_[0.0, step[:-1]]))
    frame = pd.DataFrame({
        "timestamp": pd.date_range("2024-01-01", periods=rows, freq="15min", tz="UTC"),
        "close": close,
    })
    names = [f"feature_{i:03d}" for i in range(n_features)]
    return pd.concat([frame, pd.DataFrame(features, columns=names)], axis=1)


def load_data(force_synthetic: bool, rows: int) -> tuple[pd.DataFrame, str]:
    """Feature frame and a description of where it came from."""
    if FEATURES.exists() and not force_synthetic:
        return pd.read_parquet(FEATURES), f"`{FEATURES}` (BTC-USD 15m)"
    return synthetic(rows), f"synthetic {rows:,} x 247"



def time_cases(predictor: EnsemblePredictor, runtime: OnnxEnsemble, frame: pd.DataFrame,
               repeats: int, batch_repeats: int) -> list[tuple[str, float, float]]:
    """``(case, native us, onnx us)`` rows."""
    columns = predictor.feature_columns
    one_frame = frame.iloc[[len(frame) - 1]]
    one_dict = one_frame[columns].iloc[0].to_dict()
    batch_frame = frame.iloc[-BATCH:]
    one = feature_matrix(one_frame, columns)
    batch = feature_matrix(batch_frame, columns)
    cases = [
        ("ensemble, 1 row (DataFrame)", lambda m: m.predict_proba(one_frame), repeats),
        ("ensemble, 1 row (dict)", lambda m: m.predict_proba(one_dict), repeats),
        ("ensemble, 1 row (float32 array)", lambda m: m.predict_proba(one), repeats),
        (f"ensemble, {BATCH} rows (DataFrame)", lambda m: m.predict_proba(batch_frame),
         batch_repeats),
    ]
    rows = [(name, median_us(lambda f=fn: f(predictor), n), median_us(lambda f=fn: f(runtime), n))
            for name, fn, n in cases]
    for name, member in predictor.fitted.members.items():
        for label, matrix, n in (("1 row", one, repeats),
                                 (f"{BATCH} rows", batch, batch_repeats)):
            native = median_us(lambda m=member, x=matrix: m.predict_proba(x), n)
            onnx = median_us(lambda k=name, x=matrix: runtime.run_member(k, x), n)
            rows.append((f"{name}, {label}", native, onnx))
    return rows


def render(source: str, n_rows: int, n_features: int, train_s: float,
           metrics: dict[str, dict[str, float]], parity: dict[str, float],
           rows: list[tuple[str, float, float]], repeats: int, batch_repeats: int) -> str:
    """Markdown section with the measured numbers."""
    table = "\n".join(f"| {name} | {native:,.0f} | {onnx:,.0f} | {native / onnx:.1f}x |"
                      for name, native, onnx in rows)
    quality = ", ".join(f"{name} {metrics[name]['accuracy']:.3f}"
                        for name in ("ensemble", *[k for k in metrics if k != "ensemble"]))
    diffs = ", ".join(f"{name} {value:.1e}" for name, value in parity.items())
    return (
        "## Prediction latency\n\n"
        f"`python bench/predict.py`: the pipeline's ensemble (`params.yaml`: LightGBM + "
        f"XGBoost + CatBoost, weighted, sigmoid, 200-bar embargo) trained on {source}: "
        f"{n_rows:,} labelled rows, "
        f"{n_features} features. Median of {repeats:,} calls (1 row) or {batch_repeats} "
        f"calls ({BATCH} rows); ONNX Runtime with one intra-op thread. Ensemble rows include "
        "input validation; member rows take a float32 matrix.\n\n"
        "| case | native (us) | ONNX (us) | native / ONNX |\n|---|---:|---:|---:|\n"
        f"{table}\n\n"
        f"Training (purged 5-fold OOF + final fit): {train_s:.1f} s. "
        f"OOF accuracy: {quality}. ONNX vs native max |diff| on {BATCH} rows: {diffs}.\n\n"
        f"Machine: {machine()}; date {today()}.\n"
    )


def main() -> int:
    """Train, export, time, print and record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--rows", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=2_000)
    parser.add_argument("--batch-repeats", type=int, default=100)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()

    raw, source = load_data(args.synthetic, args.rows)
    params = load_params()
    target = params.target
    frame = prepare_target(raw, target.horizon, target.threshold, target.neutral)
    predictor = EnsemblePredictor(params.predictor)
    start = time.perf_counter()
    report = predictor.train(frame, target.horizon)
    train_s = time.perf_counter() - start
    print(f"{source}: {len(frame):,} rows, {len(predictor.feature_columns)} features, "
          f"trained in {train_s:.1f} s")
    print(pd.DataFrame(report.metrics).T.round(4).to_string())
    print("best iterations:", {k: v["final"] for k, v in report.best_iterations.items()})

    with tempfile.TemporaryDirectory() as tmp:
        export_onnx(predictor, Path(tmp))
        runtime = OnnxEnsemble.load(Path(tmp), threads=1)
        batch = frame.iloc[-BATCH:]
        member_diff = np.abs(predictor.member_proba(batch) - runtime.member_proba(batch))
        parity = dict(zip(predictor.fitted.members, member_diff.max(axis=0).tolist(),
                          strict=True))
        parity["ensemble"] = float(np.abs(predictor.predict_proba(batch)
                                          - runtime.predict_proba(batch)).max())
        rows = time_cases(predictor, runtime, frame, args.repeats, args.batch_repeats)

    print(f"\n{'case':<36} {'native us':>11} {'onnx us':>10} {'ratio':>7}")
    for name, native, onnx in rows:
        print(f"{name:<36} {native:>11,.0f} {onnx:>10,.0f} {native / onnx:>6.1f}x")
    print("ONNX parity (max |diff|):", {k: f"{v:.1e}" for k, v in parity.items()})
    section = render(source, len(frame), len(predictor.feature_columns), train_s,
                     report.metrics, parity, rows, args.repeats, args.batch_repeats)
    update_section("Prediction latency", section, args.results)
    print(f"updated {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
