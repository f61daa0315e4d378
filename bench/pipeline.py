"""Wall time of the whole pipeline, and of a re-run after a cost change, in the installed env.

Run from the repository root: ``python bench/pipeline.py``. Each stage is forced once, in
order, and timed; the total is what ``make run`` costs once ``.venv`` is installed. Then
``backtest.fee_bps`` is raised (``costs: custom``) and ``dvc repro`` timed as a user runs it
(DVC's own checks included), three times alternating with the original fee; ``params.yaml``
is restored afterwards. The results replace the ``## Pipeline`` and ``## Re-run after a cost
change`` sections of bench/RESULTS.md.

``--rerun-only`` skips the forced stages (the pipeline must be up to date).
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import machine, today, update_section

STAGES = ("ingest", "validate", "features", "train", "walk_forward", "backtest", "register",
          "train_regime", "train_sentiment")
PARAMS = Path("params.yaml")


def time_stage(stage: str) -> float:
    start = time.perf_counter()
    subprocess.run(["dvc", "repro", "--force", "--single-item", stage], check=True,
                   capture_output=True)
    return time.perf_counter() - start


def pipeline_section() -> str:
    timings = {stage: time_stage(stage) for stage in STAGES}
    start = time.perf_counter()
    subprocess.run(["alphaloop", "summary"], check=True, capture_output=True)
    timings["summary"] = time.perf_counter() - start
    total = sum(timings.values())
    rows = "\n".join(f"| {name} | {secs:.1f} |" for name, secs in timings.items())
    return (
        "## Pipeline\n\n"
        "`python bench/pipeline.py`: each stage forced once (`dvc repro --force "
        "--single-item`), installed `.venv`, default `params.yaml` (BTC-USD 15-minute bars). "
        "This is the wall time of `make run` after the first install.\n\n"
        "| stage | wall (s) |\n|---|---:|\n"
        f"{rows}\n| **total** | **{total:.1f}** |\n\n"
        f"Machine: {machine()}; date {today()}. Target: under 600 s once all stages exist.\n"
    )


def timed_repro() -> tuple[float, set[str]]:
    start = time.perf_counter()
    done = subprocess.run(["dvc", "repro"], check=True, capture_output=True, text=True)
    return time.perf_counter() - start, set(re.findall(r"Running stage '(\w+)'", done.stdout))


def rerun_section() -> str:
    original = PARAMS.read_text()
    params = yaml.safe_load(original)
    changed = yaml.safe_load(original)
    changed["backtest"].update(costs="custom", fee_bps=params["backtest"]["fee_bps"] + 10.0,
                               slippage_bps=params["backtest"]["slippage_bps"])
    times, stages = [], set()
    try:
        for text in [yaml.safe_dump(changed, sort_keys=False), original] * 3:
            PARAMS.write_text(text)
            seconds, ran = timed_repro()
            times.append(seconds)
            stages |= ran
    finally:
        PARAMS.write_text(original)
    subprocess.run(["dvc", "repro"], check=True, capture_output=True)
    return (
        "## Re-run after a cost change\n\n"
        "`python bench/pipeline.py`: with the pipeline up to date (default `params.yaml`, real "
        "model sizes), `backtest.fee_bps` raised by 10 bps and back, six times; each time "
        "`dvc repro` as a user runs it (DVC's start and checks of every stage included).\n\n"
        f"| stages re-run | median (s) | min (s) | max (s) |\n|---|---:|---:|---:|\n"
        f"| {', '.join(sorted(stages))} | {statistics.median(times):.1f} | {min(times):.1f} "
        f"| {max(times):.1f} |\n\n"
        "Before the walk-forward predictions became their own stage, the same change re-ran "
        "the whole walk-forward (retraining every window) and registered a new model version.\n"
        f"\nMachine: {machine()}; date {today()}. Goal: under 10 s.\n"
    )


def main() -> int:
    if "--rerun-only" not in sys.argv:
        section = pipeline_section()
        update_section("Pipeline", section)
        print(section)
    section = rerun_section()
    update_section("Re-run after a cost change", section)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
