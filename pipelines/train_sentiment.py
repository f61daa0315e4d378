"""DVC stage ``train_sentiment``: MiniLM (ONNX, int8) + a head on our headlines, registered."""

from __future__ import annotations

from alphaloop.config import load_params
from alphaloop.models.sentiment import load_headlines
from alphaloop.stages.sentiment import register_sentiment, train
from pipelines.common import HEADLINES, WS, registry, run_stage


def main() -> None:
    def stage() -> None:
        params, headlines = load_params(), load_headlines(HEADLINES)
        register_sentiment(params, headlines, HEADLINES, train(params, headlines, WS), WS,
                           registry(), reuse_identical=True)

    run_stage(stage)


if __name__ == "__main__":
    main()
