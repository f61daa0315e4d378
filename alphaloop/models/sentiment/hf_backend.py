"""Any local transformers sequence classifier (FinBERT, Twitter-RoBERTa, NLI) on ONNX Runtime.

``export_classifier`` turns a checkpoint folder into ONNX with optimum
(``ORTModelForSequenceClassification``) and optionally a dynamic-int8 copy.
``OnnxClassifier`` runs it and reads the label layout from ``config.json``'s ``id2label``:
the sentiment logit is ``logit_pos - logit_neg`` (``log P(pos) / P(neg)`` under the
model's softmax), with the labels found case-insensitively.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from alphaloop.models.sentiment.encoder import (
    FP32_FILE,
    INT8_FILE,
    export_with_optimum,
    onnx_session,
    pick_graph,
)
from alphaloop.models.sentiment.head import softmax

# Accepted spellings per role, compared after lower-casing and stripping.
LABEL_NAMES: dict[str, frozenset[str]] = {
    "positive": frozenset({"positive", "pos", "bullish"}),
    "negative": frozenset({"negative", "neg", "bearish"}),
    "neutral": frozenset({"neutral", "neu"}),
    "entailment": frozenset({"entailment", "entail", "entailed"}),
    "contradiction": frozenset({"contradiction", "contradict", "contradicted"}),
}


def find_labels(id2label: Mapping[Any, str], roles: Sequence[str]) -> dict[str, int]:
    """Output index of each role (e.g. ``positive``) in a model's ``id2label``.

    Args:
        id2label: ``config.id2label`` (keys may be ints or JSON strings).
        roles: Roles that must be present, keys of ``LABEL_NAMES``.

    Returns:
        Role -> index for every role found (required or not).

    Raises:
        ValueError: If a required role has no matching label.
    """
    found: dict[str, int] = {}
    for key, name in id2label.items():
        for role, spellings in LABEL_NAMES.items():
            if str(name).strip().lower() in spellings:
                found[role] = int(key)
    missing = [role for role in roles if role not in found]
    if missing:
        raise ValueError(
            f"model labels {dict(id2label)} have no {' / '.join(missing)} label; set "
            f"config.id2label to names such as 'negative', 'neutral', 'positive'")
    return found


def is_exported(path: Path) -> bool:
    """Whether ``path`` already holds an ONNX export (no torch needed to load it)."""
    return (Path(path) / FP32_FILE).is_file() or (Path(path) / INT8_FILE).is_file()


def export_classifier(model_path: Path, directory: Path, *, quantize: bool = True) -> Path:
    """Export a sequence-classification checkpoint and its tokenizer to ONNX.

    Args:
        model_path: Local checkpoint folder (``config.json``, weights, tokenizer files).
        directory: Output folder: ``model.onnx``, ``config.json``, tokenizer files and, with
            ``quantize``, ``model_quantized.onnx``.
        quantize: Also write the dynamic-int8 graph.

    Returns:
        ``directory``.
    """
    from optimum.onnxruntime import ORTModelForSequenceClassification

    return export_with_optimum(ORTModelForSequenceClassification, model_path, directory,
                               quantize=quantize)


class OnnxClassifier:
    """A sequence classifier on ONNX Runtime with its labels.

    Args:
        session: ONNX Runtime session (output 0: ``(n, n_labels)`` logits).
        tokenizer: The model's tokenizer.
        id2label: Output index -> label name.
        max_length: Tokens per text (pair); longer inputs are truncated.
        batch_size: Texts per forward pass.
    """

    def __init__(self, session: Any, tokenizer: Any, id2label: Mapping[int, str], *,
                 max_length: int = 64, batch_size: int = 64) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.id2label = {int(k): str(v) for k, v in id2label.items()}
        self.max_length = max_length
        self.batch_size = batch_size
        self._inputs = {i.name for i in session.get_inputs()}
        # Fast tokenizers raise "Already borrowed" when called from two threads at once.
        self._tokenizer_lock = threading.Lock()

    @classmethod
    def load(cls, directory: Path, *, quantized: bool = True, max_length: int = 64,
             batch_size: int = 64, threads: int | None = None) -> OnnxClassifier:
        """Open an ``export_classifier`` folder (int8 graph preferred when ``quantized``).

        Raises:
            FileNotFoundError: If the folder holds no graph.
            OSError: If ``config.json`` or the tokenizer files are missing or unreadable.
        """
        from transformers import AutoConfig, AutoTokenizer

        directory = Path(directory)
        graph = pick_graph(directory, quantized)
        # AutoConfig fills in the default LABEL_i names that config.json leaves out.
        config = AutoConfig.from_pretrained(str(directory), local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        return cls(onnx_session(graph, threads), tokenizer, config.id2label,
                   max_length=max_length, batch_size=batch_size)

    def logits(self, texts: Sequence[str],
               pairs: Sequence[str] | None = None) -> np.ndarray:
        """Raw logits, shape ``(n, n_labels)``; ``pairs`` gives second segments (NLI)."""
        parts = []
        for start in range(0, len(texts), self.batch_size):
            first = [str(t) for t in texts[start:start + self.batch_size]]
            second = None if pairs is None else list(pairs[start:start + self.batch_size])
            with self._tokenizer_lock:
                encoded = self.tokenizer(first, second, padding=True, truncation=True,
                                         max_length=self.max_length, return_tensors="np")
            feeds = {k: v.astype(np.int64) for k, v in encoded.items() if k in self._inputs}
            parts.append(self.session.run(None, feeds)[0].astype(np.float64))
        if not parts:
            return np.zeros((0, len(self.id2label)))
        return np.concatenate(parts)

    def sentiment_logit(self, texts: Sequence[str]) -> np.ndarray:
        """``logit_pos - logit_neg`` per text, shape ``(n,)``.

        Raises:
            ValueError: If the model has no positive or negative label.
        """
        idx = find_labels(self.id2label, ("positive", "negative"))
        z = self.logits(texts)
        return z[:, idx["positive"]] - z[:, idx["negative"]]

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Same as ``sentiment_logit`` (the common scorer interface)."""
        return self.sentiment_logit(texts)

    def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Label (lower-case) and softmax probabilities per text."""
        proba = softmax(self.logits(texts))
        names = [self.id2label[i].lower() for i in range(proba.shape[1])]
        return [{"label": names[int(row.argmax())],
                 "probabilities": dict(zip(names, map(float, row), strict=True))}
                for row in proba]


def load_or_export(model_path: Path, workdir: Path, *, quantize: bool = True,
                   max_length: int = 64, batch_size: int = 64,
                   threads: int | None = None) -> OnnxClassifier:
    """Open ``model_path`` as ONNX, exporting it into ``workdir`` first when needed.

    A folder that already holds ``model.onnx`` / ``model_quantized.onnx`` is opened as is;
    a PyTorch checkpoint (a folder, or a Hub id already in the local cache) is exported
    with ``export_classifier``. Nothing is downloaded.
    """
    source = Path(model_path)
    if not is_exported(source):
        source = export_classifier(source, workdir, quantize=quantize)
    return OnnxClassifier.load(source, quantized=quantize, max_length=max_length,
                               batch_size=batch_size, threads=threads)

