"""DVC stage ``train_sentiment``: MiniLM (ONNX, int8) + a head trained on our headline set.

Held-out accuracy and macro-F1 sit beside the Loughran-McDonald lexicon and a majority-class
baseline; the gate (``register.sentiment``) requires beating the lexicon.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from alphaloop.config import Params, Settings, load_params
from pipelines.common import (
    HEADLINES,
    SENTIMENT_DIR,
    SENTIMENT_METRICS,
    SENTIMENT_REGISTRY,
    run_stage,
    write_json,
)
from pipelines.registration import Candidate, register

log = logging.getLogger(__name__)


def train(params: Params, headlines: Path = HEADLINES) -> dict[str, Any]:
    """Export the encoder, fit the head, save ``models/sentiment``; return held-out metrics."""
    from alphaloop.models.sentiment import (
        OnnxEncoder,
        SentimentModel,
        export_encoder,
        load_headlines,
        minilm_path,
        train_sentiment,
    )

    cfg = params.sentiment
    frame = load_headlines(headlines)
    with tempfile.TemporaryDirectory(prefix="alphaloop-minilm-") as tmp:
        log.info("exporting the packaged MiniLM encoder to ONNX%s",
                 " (int8)" if cfg.quantize else "")
        exported = export_encoder(minilm_path(), Path(tmp), quantize=cfg.quantize)
        encoder = OnnxEncoder.load(exported, quantized=cfg.quantize, max_length=cfg.max_length,
                                   batch_size=cfg.batch_size)
        log.info("training the sentiment head on %s labelled headlines", f"{len(frame):,}")
        report = train_sentiment(frame, cfg, encoder=encoder)
        if SENTIMENT_DIR.exists():
            shutil.rmtree(SENTIMENT_DIR)
        SentimentModel(encoder, report.head).save(SENTIMENT_DIR)
    metrics: dict[str, Any] = {name: {k: round(float(v), 6) for k, v in scores.items()}
                               for name, scores in report.metrics.items()}
    metrics["data"] = {"rows": len(frame), "held_out": len(report.test_index),
                       "class_counts": report.class_counts}
    write_json(SENTIMENT_METRICS, metrics)
    for name, scores in report.metrics.items():
        log.info("%-9s accuracy %.4f  macro-F1 %.4f (held out)", name, scores["accuracy"],
                 scores["macro_f1"])
    return metrics


def run(params: Params, settings: Settings) -> dict[str, Any]:
    """Train, then register ``sentiment`` under the shared alias rules."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    from alphaloop.models.sentiment import SentimentModel
    from alphaloop.registry.pyfunc import SentimentPyfunc, sentiment_frame

    metrics = train(params)
    example = pd.DataFrame({"text": ["Exchange hacked, $200M stolen",
                                     "Bitcoin ETF inflows hit a record"]})
    output = sentiment_frame(SentimentModel.load(SENTIMENT_DIR), example["text"].tolist())

    def log_model(name: str) -> Any:
        return mlflow.pyfunc.log_model(
            name="model", python_model=SentimentPyfunc(),
            artifacts={"sentiment": str(SENTIMENT_DIR)},
            signature=infer_signature(example, output), input_example=example,
            registered_model_name=name)

    candidate = Candidate(
        name="sentiment", rule=params.register_.sentiment,
        metrics={k: v for k, v in metrics.items() if k != "data"},
        params={"sentiment": params.sentiment.model_dump(mode="json")},
        data_stage="none", data_path=str(HEADLINES), log_model=log_model,
        artifacts={"reports": SENTIMENT_METRICS}, candidate_key="minilm")
    return register(candidate, settings, SENTIMENT_REGISTRY)


def main() -> None:
    run_stage(lambda: run(load_params(), Settings()))


if __name__ == "__main__":
    main()
