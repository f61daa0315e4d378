"""Wall time of the whole pipeline (`dvc repro --force`) in the installed environment.

Run from the repository root: ``python bench/pipeline.py``. Each stage is forced once, in
order, and timed; the total is what ``make run`` costs once ``.venv`` is installed.
The result replaces the ``## Pipeline`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import machine, today, update_section

STAGES = ("ingest", "validate", "features", "train", "evaluate", "register", "train_regime",
          "train_sentiment")


def time_stage(stage: str) -> float:
    start = time.perf_counter()
    subprocess.run(["dvc", "repro", "--force", "--single-item", stage], check=True,
                   capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    timings = {stage: time_stage(stage) for stage in STAGES}
    start = time.perf_counter()
    subprocess.run(["alphaloop", "summary"], check=True, capture_output=True)
    timings["summary"] = time.perf_counter() - start
    total = sum(timings.values())
    rows = "\n".join(f"| {name} | {secs:.1f} |" for name, secs in timings.items())
    section = (
        "## Pipeline\n\n"
        "`python bench/pipeline.py`: each stage forced once (`dvc repro --force "
        "--single-item`), installed `.venv`, default `params.yaml` (BTC-USD 15-minute bars). "
        "This is the wall time of `make run` after the first install.\n\n"
        "| stage | wall (s) |\n|---|---:|\n"
        f"{rows}\n| **total** | **{total:.1f}** |\n\n"
        f"Machine: {machine()}; date {today()}. Target: under 600 s once all stages exist.\n"
    )
    update_section("Pipeline", section)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
