"""DVC stage ``train_regime``: the market-regime forecaster on validated bars, registered."""

from __future__ import annotations

from alphaloop.config import load_params
from alphaloop.stages.regime import register_regime, train
from alphaloop.workspace import read_frame
from pipelines.common import WS, registry, run_stage


def main() -> None:
    def stage() -> None:
        params, bars = load_params(), read_frame(WS.validated_bars)
        register_regime(params, bars, train(params, bars, WS), WS, registry(),
                        reuse_identical=True)

    run_stage(stage)


if __name__ == "__main__":
    main()
