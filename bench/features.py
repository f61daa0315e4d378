"""Benchmark build_features against the raw TA-Lib calls it makes.

Usage: python bench/features.py [--rows N] [--seed S] [--repeats R] [--results PATH]

Both timings replay the same ``feature_plan``: the raw figure sums the wall time of each
TA-Lib call alone (inputs prepared beforehand); the build_features figure is the whole
call, validation and DataFrame assembly included. Each is the best of ``--repeats`` runs.
The result replaces the ``## Features`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import talib

from alphaloop.features import FeatureConfig, build_features, feature_plan, prepare_inputs
from alphaloop.features.plan import FeaturePlan

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import RESULTS, machine, today, update_section

TARGET_RATIO = 1.3


def synthetic_bars(n: int, seed: int = 0) -> pd.DataFrame:
    """Random-walk minute bars; ~24% are flat zero-volume bars in clustered runs."""
    rng = np.random.default_rng(seed)
    idx = np.arange(n)
    # Idle runs: starts with prob. 0.08, geometric lengths (mean 4) -> ~24% idle bars.
    ends = np.where(rng.random(n) < 0.08, idx + rng.geometric(0.25, n), 0)
    idle = np.maximum.accumulate(ends) > idx
    idle[0] = False
    vol = 1e-3 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)).clip(-1.0, 1.0))
    close = 30_000.0 * np.exp(np.cumsum(np.where(idle, 0.0, rng.normal(0.0, 1.0, n) * vol)))
    prev_close = np.r_[close[0], close[:-1]]
    open_ = np.where(idle, close, prev_close * np.exp(rng.normal(0.0, 1e-4, n)))
    wick = np.where(idle, 0.0, np.abs(rng.normal(0.0, 1.0, (2, n))) * vol)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2020-01-01", periods=n, freq="1min", tz="UTC"),
            "open": open_,
            "high": np.maximum(open_, close) * np.exp(wick[0]),
            "low": np.minimum(open_, close) * np.exp(-wick[1]),
            "close": close,
            "volume": np.where(idle, 0.0, rng.lognormal(2.0, 1.0, n)),
            "symbol": "BTCUSDT",
            "zero_volume": idle,
        }
    )


def time_raw_talib(bars: pd.DataFrame, plan: FeaturePlan) -> float:
    """Sum of the wall times of each TA-Lib call in ``plan``, each made once."""
    series = prepare_inputs(bars, plan)
    total = 0.0
    for step in plan.steps:
        call = step.call
        if call is not None:
            fn = getattr(talib, call.func)
            args = [series[name] for name in call.inputs]
            kwargs = call.kwargs
            start = time.perf_counter()
            result = fn(*args, **kwargs)
            total += time.perf_counter() - start
            outputs = result if isinstance(result, tuple) else (result,)
            series.update(zip(call.outputs, outputs, strict=True))
        for name in step.release:
            del series[name]
    return total


def time_build(bars: pd.DataFrame, config: FeatureConfig) -> tuple[float, int, int]:
    """Wall time of one build_features call, its feature count and warm-up rows."""
    start = time.perf_counter()
    result = build_features(bars, config)
    elapsed = time.perf_counter() - start
    return elapsed, len(result.feature_columns), result.warmup_rows_dropped


def render(rows: int, features: int, raw: float, ours: float, repeats: int) -> str:
    """Markdown section with the measured numbers."""
    ratio = ours / raw
    verdict = "pass" if ratio <= TARGET_RATIO else "FAIL"
    return (
        "## Features\n\n"
        f"`python bench/features.py --rows {rows}`: best of {repeats}; raw TA-Lib is the sum "
        "of every TA-Lib call in `feature_plan()` timed alone.\n\n"
        "| rows | features | raw TA-Lib (s) | build_features (s) | ratio | target | machine "
        "| date |\n"
        "|---:|---:|---:|---:|---:|---|---|---|\n"
        f"| {rows:,} | {features} | {raw:.3f} | {ours:.3f} | {ratio:.3f} ({verdict}) "
        f"| <= {TARGET_RATIO} | {machine()} | {today()} |\n"
    )


def main() -> int:
    """Run the benchmark; exit status 1 when the ratio misses the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()

    config = FeatureConfig()
    plan = feature_plan(config)
    bars = synthetic_bars(args.rows, args.seed)
    print(f"{args.rows:,} bars, {len(plan.calls)} TA-Lib calls, {len(plan.features)} features")

    raw = min(time_raw_talib(bars, plan) for _ in range(args.repeats))
    builds = [time_build(bars, config) for _ in range(args.repeats)]
    ours = min(b[0] for b in builds)
    features, warmup = builds[0][1], builds[0][2]
    ratio = ours / raw
    print(f"raw TA-Lib calls: {raw:.3f} s")
    runs = ", ".join(f"{b[0]:.3f}" for b in builds)
    print(f"build_features:   {ours:.3f} s (runs: {runs}; {warmup} warm-up rows dropped)")
    print(f"ratio:            {ratio:.3f} (target <= {TARGET_RATIO})")

    update_section("Features", render(args.rows, features, raw, ours, args.repeats),
                   args.results)
    print(f"updated {args.results}")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
