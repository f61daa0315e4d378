"""The ``train_sentiment`` stage: MiniLM (ONNX, int8) + a head on our headline set, registered.

Held-out accuracy and macro-F1 sit beside the Loughran-McDonald lexicon and a majority-class
baseline. The gate scores the current champion afresh on the same held-out headlines, but
only when it was trained on the same file with the same split (else it may have seen them).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from alphaloop import plots
from alphaloop.config import Params
from alphaloop.registry.lifecycle import (
    Candidate,
    Holdout,
    Registration,
    RegistryConfig,
    pyfunc_loader,
    register_candidate,
)
from alphaloop.registry.lineage import git_commit
from alphaloop.registry.task import Task, feature_set_hash
from alphaloop.registry.tracking import InputData
from alphaloop.stages.lineage import SENTIMENT_SECTIONS, model_params
from alphaloop.workspace import Workspace, dir_md5, write_csv, write_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SentimentResult:
    model: Any  # SentimentModel
    report: Any  # SentimentReport
    metrics: dict[str, Any]


def train(params: Params, headlines: pd.DataFrame, ws: Workspace) -> SentimentResult:
    """Export the encoder, fit the head, save ``models/sentiment`` in ``ws``."""
    from alphaloop.models.sentiment import (
        OnnxEncoder,
        SentimentModel,
        export_encoder,
        minilm_path,
        train_sentiment,
    )
    from alphaloop.models.sentiment.model import label_metrics

    cfg = params.sentiment
    model_dir = ws.model_dir("sentiment")
    with tempfile.TemporaryDirectory(prefix="alphaloop-minilm-") as tmp:
        log.info("exporting the packaged MiniLM encoder to ONNX%s",
                 " (int8)" if cfg.quantize else "")
        exported = export_encoder(minilm_path(), Path(tmp), quantize=cfg.quantize)
        encoder = OnnxEncoder.load(exported, quantized=cfg.quantize, max_length=cfg.max_length,
                                   batch_size=cfg.batch_size)
        log.info("training the sentiment head on %s labelled headlines", f"{len(headlines):,}")
        report = train_sentiment(headlines, cfg, encoder=encoder)
        if model_dir.exists():
            shutil.rmtree(model_dir)
        SentimentModel(encoder, report.head).save(model_dir)
    model = SentimentModel.load(model_dir)
    # Score what was saved (and will be served): reloading the int8 encoder can move a few
    # borderline headlines relative to the in-memory one.
    actual, predicted = _saved_predictions(model, headlines, report)
    scores_by_model = {**report.metrics, "minilm": label_metrics(actual, predicted)}
    metrics: dict[str, Any] = {name: {k: round(float(v), 6) for k, v in scores.items()}
                               for name, scores in scores_by_model.items()}
    metrics["data"] = {"rows": len(headlines), "held_out": len(report.test_index),
                       "class_counts": report.class_counts}
    write_json(ws.report("sentiment_metrics"), metrics)
    write_json(ws.metrics("sentiment"), headline(metrics))
    confusion = pd.DataFrame({"actual": actual, "predicted": predicted})
    write_csv(confusion, ws.plots / "sentiment_confusion.csv")
    plots.confusion_png(confusion["actual"], confusion["predicted"],
                        sorted(report.class_counts), ws.plots / "sentiment_confusion.png",
                        f"MiniLM sentiment, {len(actual)} held-out headlines")
    for name, scores in scores_by_model.items():
        log.info("%-9s accuracy %.4f  macro-F1 %.4f (held out)", name, scores["accuracy"],
                 scores["macro_f1"])
    return SentimentResult(model, report, metrics)


# The train_sentiment stage's pictures, logged with the registered model.
SENTIMENT_PLOTS = ("sentiment_confusion.csv", "sentiment_confusion.png")


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The few numbers ``dvc metrics show`` prints (the rest: ``sentiment_metrics.json``)."""
    return {"macro_f1": metrics["minilm"]["macro_f1"], "accuracy": metrics["minilm"]["accuracy"],
            "lexicon_macro_f1": metrics["lexicon"]["macro_f1"]}


def _saved_predictions(model: Any, headlines: pd.DataFrame,
                       report: Any) -> tuple[list[str], list[str]]:
    """The held-out headlines' labels and the saved model's answers."""
    test = report.test_index
    texts = headlines["headline"].astype(str).iloc[test].tolist()
    labels = headlines["label"].astype(str).iloc[test].tolist()
    return labels, [row["label"] for row in model.predict(texts)]


def _saved_scores(model: Any, headlines: pd.DataFrame, report: Any) -> dict[str, float]:
    from alphaloop.models.sentiment.model import label_metrics

    return label_metrics(*_saved_predictions(model, headlines, report))


def _split_key(params: Params, data_version: str) -> str:
    cfg = params.sentiment
    text = f"{data_version}:{cfg.seed}:{cfg.test_fraction}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def gate_holdout(params: Params, headlines: pd.DataFrame, result: SentimentResult,
                 data_version: str) -> Holdout:
    """The held-out headlines, and who may be scored on them (same file, same split)."""
    test = result.report.test_index
    key = _split_key(params, data_version)

    def score(model: Any) -> dict[str, float]:
        return _saved_scores(model, headlines, result.report)

    def overlap(tags: dict[str, str]) -> str | None:
        if tags.get("split_key") != key:
            return ("was trained on another file or split of the headlines (it may have seen "
                    "these held-out ones)")
        return None

    baselines = {k: v for k, v in result.report.metrics.items() if k != "minilm"}
    return Holdout(f"{len(test)} held-out headlines (split {key})", score, baselines,
                   pyfunc_loader("model"), overlap,
                   {"split_key": key, "holdout_rows": str(len(test))})


def task_of(params: Params) -> Task:
    cfg = params.sentiment
    spec = {"backend": cfg.backend, "social_backend": cfg.social_backend,
            "max_length": cfg.max_length, "quantize": cfg.quantize}
    return Task("sentiment", "news", "text", 0, feature_set_hash(spec))


def register_sentiment(params: Params, headlines: pd.DataFrame, headlines_path: Path,
                       result: SentimentResult, ws: Workspace,
                       registry: RegistryConfig, reuse_identical: bool = False) -> Registration:
    """Register the model as the sentiment task's challenger; gate it against the lexicon.

    ``reuse_identical``: an identical model on the same headlines reports its existing
    version.
    """
    import mlflow
    from mlflow.models import infer_signature

    from alphaloop.registry.pyfunc import SentimentPyfunc, sentiment_frame
    from alphaloop.workspace import file_md5

    model_dir = ws.model_dir("sentiment")
    example = pd.DataFrame({"text": ["Exchange hacked, $200M stolen",
                                     "Bitcoin ETF inflows hit a record"]})
    output = sentiment_frame(result.model, example["text"].tolist())

    def log_model(name: str) -> Any:
        return mlflow.pyfunc.log_model(
            name="model", python_model=SentimentPyfunc(),
            artifacts={"sentiment": str(model_dir)},
            signature=infer_signature(example, output), input_example=example,
            registered_model_name=name)

    data_version = file_md5(headlines_path)
    holdout = gate_holdout(params, headlines, result, data_version)
    candidate = Candidate(
        task=task_of(params), rule=params.register_.sentiment, model=result.model,
        holdout=holdout, log_model=log_model,
        params=model_params(params, "sentiment", SENTIMENT_SECTIONS),
        data_version=data_version, data_path=str(headlines_path),
        git_commit=git_commit(registry.root), tags=holdout.bounds,
        artifacts={"reports": ws.report("sentiment_metrics"),
                   "plots": tuple(ws.plots / name for name in SENTIMENT_PLOTS)},
        key="minilm",
        data=InputData(headlines, "labelled headlines", str(headlines_path), data_version,
                       {"source": str(headlines_path), "rows": str(len(headlines)),
                        "labels": ", ".join(sorted(result.report.class_counts))}),
        lineage_root=registry.root, model_hash=dir_md5(model_dir),
        reuse_identical=reuse_identical)
    registration = register_candidate(candidate, registry)
    write_json(ws.report("sentiment_registry"), registration.to_dict())
    return registration
