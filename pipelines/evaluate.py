"""DVC stage ``evaluate``: walk-forward backtest of the ensemble with costs, beside buy-and-hold."""

from __future__ import annotations

from alphaloop.config import load_params
from alphaloop.stages.evaluate import evaluate
from alphaloop.workspace import read_frame
from pipelines.common import WS, run_stage


def main() -> None:
    run_stage(lambda: evaluate(load_params(), read_frame(WS.features), WS))


if __name__ == "__main__":
    main()
