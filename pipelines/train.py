"""DVC stage ``train``: labels, purged out-of-fold metrics, the gate's holdout, ONNX."""

from __future__ import annotations

from alphaloop.config import load_params
from alphaloop.stages.ensemble import train
from alphaloop.workspace import read_frame
from pipelines.common import WS, run_stage


def main() -> None:
    run_stage(lambda: train(load_params(), read_frame(WS.features), WS))


if __name__ == "__main__":
    main()
