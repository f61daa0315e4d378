"""The MiniLM sentiment model (encoder + head), its training and held-out evaluation.

``train_sentiment`` splits the labelled headlines once (stratified by label, seeded), fits
the head on the training part and scores three models on the same held-out part:

- ``minilm``: logistic regression on MiniLM sentence embeddings;
- ``lexicon``: the Loughran-McDonald word-count sign (no training);
- ``majority``: always the most frequent training label.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alphaloop.models.sentiment.config import MINILM, SentimentParams
from alphaloop.models.sentiment.encoder import OnnxEncoder, TextEncoder, TorchEncoder, minilm_path
from alphaloop.models.sentiment.head import SentimentHead
from alphaloop.models.sentiment.lexicon import LABELS, LexiconScorer

MANIFEST = "manifest.json"
HEAD_FILE = "head.json"
ENCODER_DIR = "encoder"
MODEL_FORMAT = 1


def load_headlines(path: Path) -> pd.DataFrame:
    """Read a labelled headline CSV (``headline,label``) and check it.

    Raises:
        ValueError: On missing columns, empty headlines or labels outside
            ``negative / neutral / positive``.
    """
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"headline", "label"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}")
    bad = sorted(set(frame["label"]) - set(LABELS))
    if bad:
        raise ValueError(f"{path}: unknown label(s) {bad}; expected {list(LABELS)}")
    if (frame["headline"].str.strip() == "").any():
        raise ValueError(f"{path}: empty headline(s)")
    return frame[["headline", "label"]].reset_index(drop=True)


def label_metrics(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, float]:
    """Accuracy, macro-F1 (over the three labels) and ``n``."""
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=list(LABELS), average="macro",
                                   zero_division=0)),
        "n": float(len(y_true)),
    }


def split_indices(labels: Sequence[str], params: SentimentParams
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded train/test row indices (``params.test_fraction`` held out)."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    train, test = train_test_split(index, test_size=params.test_fraction,
                                   random_state=params.seed, stratify=list(labels))
    return np.sort(train), np.sort(test)


@dataclass
class SentimentReport:
    """What ``train_sentiment`` measured.

    Attributes:
        metrics: ``minilm`` / ``lexicon`` / ``majority`` -> ``label_metrics`` on the
            held-out split.
        head: The head fitted on the training split.
        train_index: Row positions of the training split in the input frame.
        test_index: Row positions of the held-out split.
        class_counts: Label -> rows in the whole frame.
        predictions: Held-out rows: ``headline``, ``label`` and one column per model.
    """

    metrics: dict[str, dict[str, float]]
    head: SentimentHead
    train_index: np.ndarray
    test_index: np.ndarray
    class_counts: dict[str, int]
    predictions: pd.DataFrame = field(repr=False)


def train_sentiment(frame: pd.DataFrame, params: SentimentParams | None = None, *,
                    encoder: TextEncoder | None = None,
                    embeddings: np.ndarray | None = None) -> SentimentReport:
    """Fit the MiniLM head and compare it with the lexicon and majority baselines.

    Args:
        frame: ``headline`` and ``label`` columns (see ``load_headlines``).
        params: Split, seed and regularisation; defaults when None.
        encoder: Embeds the headlines; None loads the packaged MiniLM in PyTorch. Pass the
            ONNX encoder the model will serve with, so the head sees the same embeddings.
        embeddings: Precomputed ``(len(frame), dim)`` embeddings (``encoder`` is then unused).

    Returns:
        Held-out metrics of the three models and the fitted head.
    """
    params = params or SentimentParams()
    texts = frame["headline"].astype(str).tolist()
    labels = frame["label"].astype(str).tolist()
    if embeddings is None:
        encoder = encoder or TorchEncoder.load(minilm_path(), max_length=params.max_length,
                                               batch_size=params.batch_size)
        embeddings = encoder.encode(texts)
    train, test = split_indices(labels, params)
    y = np.asarray(labels)
    head = SentimentHead.fit(embeddings[train], y[train], C=params.head_C, seed=params.seed)

    test_texts = [texts[i] for i in test]
    majority = str(pd.Series(y[train]).value_counts().idxmax())
    predicted: dict[str, list[str]] = {
        MINILM: head.predict(embeddings[test]),
        "lexicon": LexiconScorer().predict_labels(test_texts),
        "majority": [majority] * len(test),
    }
    metrics = {name: label_metrics(y[test].tolist(), pred) for name, pred in predicted.items()}
    predictions = pd.DataFrame({"headline": test_texts, "label": y[test], **predicted})
    counts = {label: int((y == label).sum()) for label in LABELS}
    return SentimentReport(metrics, head, train, test, counts, predictions)


class SentimentModel:
    """MiniLM encoder + logistic-regression head.

    ``score`` returns the logit ``log P(pos) / P(neg)`` of the head's softmax (positive means
    bullish for the asset named, 0 balanced); ``predict`` the label and all probabilities.

    Args:
        encoder: Sentence encoder (``OnnxEncoder`` to be saveable).
        head: The fitted head.
    """

    name = MINILM

    def __init__(self, encoder: TextEncoder, head: SentimentHead) -> None:
        self.encoder = encoder
        self.head = head

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Sentiment logits, shape ``(n,)`` (empty in, empty out)."""
        if not texts:
            return np.zeros(0)
        return self.head.logit(self.encoder.encode(texts))

    def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Per text: ``label``, ``probabilities`` (class -> P) and ``logit``."""
        if not texts:
            return []
        embeddings = self.encoder.encode(texts)
        proba = self.head.predict_proba(embeddings)
        logits = self.head.logit(embeddings)
        return [{"label": self.head.classes[int(row.argmax())],
                 "probabilities": dict(zip(self.head.classes, map(float, row), strict=True)),
                 "logit": float(logit)} for row, logit in zip(proba, logits, strict=True)]

    def save(self, directory: Path) -> None:
        """Write ``encoder/`` (ONNX graph + tokenizer), ``head.json`` and ``manifest.json``.

        Raises:
            TypeError: If the encoder is not an ``OnnxEncoder`` (export it first).
        """
        if not isinstance(self.encoder, OnnxEncoder):
            raise TypeError("only an OnnxEncoder can be saved; build one with export_encoder")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.encoder.save(directory / ENCODER_DIR)
        self.head.save(directory / HEAD_FILE)
        manifest = {"format": MODEL_FORMAT, "backend": MINILM,
                    "quantized": self.encoder.quantized,
                    "max_length": self.encoder.max_length, "dim": self.head.dim,
                    "classes": self.head.classes}
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=2))

    @classmethod
    def load(cls, directory: Path, *, batch_size: int = 64,
             threads: int | None = None) -> SentimentModel:
        """Open a folder written by ``save``.

        Raises:
            FileNotFoundError: If a part is missing.
            ValueError: If the manifest is unreadable or encoder and head disagree.
        """
        directory = Path(directory)
        if not (directory / MANIFEST).is_file():
            raise FileNotFoundError(f"no {MANIFEST} in {directory}")
        try:
            manifest = json.loads((directory / MANIFEST).read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{directory / MANIFEST}: not valid JSON ({exc})") from exc
        if manifest.get("format") != MODEL_FORMAT:
            raise ValueError(f"{directory}: unsupported model format {manifest.get('format')}")
        head = SentimentHead.load(directory / HEAD_FILE)
        encoder = OnnxEncoder.load(directory / ENCODER_DIR,
                                   quantized=bool(manifest.get("quantized", True)),
                                   max_length=int(manifest.get("max_length", 64)),
                                   batch_size=batch_size, threads=threads)
        if encoder.dim != head.dim:
            raise ValueError(f"{directory}: encoder width {encoder.dim} != head width "
                             f"{head.dim}")
        return cls(encoder, head)
