"""DVC stage ``features``: the TA-Lib feature set over validated bars, plus an importance proxy."""

from __future__ import annotations

from alphaloop.config import load_params
from alphaloop.stages.data import features
from alphaloop.workspace import read_frame
from pipelines.common import WS, run_stage


def main() -> None:
    run_stage(lambda: features(load_params().features, read_frame(WS.validated_bars), WS))


if __name__ == "__main__":
    main()
