"""DVC stage ``walk_forward``: retrain the ensemble window by window; keep its predictions."""

from __future__ import annotations

from alphaloop.config import load_params
from alphaloop.stages.walk_forward import walk_forward
from alphaloop.workspace import read_frame
from pipelines.common import WS, run_stage


def main() -> None:
    run_stage(lambda: walk_forward(load_params(), read_frame(WS.features), WS))


if __name__ == "__main__":
    main()
