"""``hf:`` backend: a tiny BERT classifier exported to ONNX, quantised, labels from config."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from alphaloop.models.sentiment import (
    OnnxClassifier,
    SentimentParams,
    compute_finbert_scores,
    compute_twitter_scores,
    export_classifier,
    load_scorer,
)
from alphaloop.models.sentiment.encoder import FP32_FILE, INT8_FILE
from alphaloop.models.sentiment.hf_backend import find_labels
from tests.unit.models.sentiment.conftest import build_tiny_bert

TEXTS = [
    "Fed hikes rates by 75bp",
    "Exchange hacked, $200M stolen from hot wallets",
    "Bitcoin ETF inflows hit a record",
    "company beats earnings and raises guidance " * 20,  # longer than max_length
]


@pytest.fixture(scope="module")
def exported(tiny_sentiment_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_classifier(tiny_sentiment_bert, tmp_path_factory.mktemp("onnx"),
                             quantize=True)


def _torch_logits(model_dir: Path, texts: list[str], max_length: int) -> np.ndarray:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).eval()
    inputs = tokenizer(texts, padding=True, truncation=True, max_length=max_length,
                       return_tensors="pt")
    with torch.inference_mode():
        logits: np.ndarray = model(**inputs).logits.numpy()
    return logits


def test_export_writes_fp32_and_int8_graphs(exported: Path) -> None:
    assert (exported / FP32_FILE).is_file() and (exported / INT8_FILE).is_file()
    assert (exported / INT8_FILE).stat().st_size < (exported / FP32_FILE).stat().st_size


def test_labels_come_from_config(exported: Path) -> None:
    classifier = OnnxClassifier.load(exported)
    assert classifier.id2label == {0: "negative", 1: "neutral", 2: "positive"}
    assert find_labels(classifier.id2label, ("positive", "negative")) == {
        "negative": 0, "neutral": 1, "positive": 2}
    assert find_labels({"0": "NEGATIVE", "1": "Positive"}, ("positive", "negative")) == {
        "negative": 0, "positive": 1}
    with pytest.raises(ValueError, match="no positive / negative label"):
        find_labels({0: "LABEL_0", 1: "LABEL_1"}, ("positive", "negative"))


def test_onnx_fp32_matches_pytorch(exported: Path, tiny_sentiment_bert: Path) -> None:
    onnx_logits = OnnxClassifier.load(exported, quantized=False, max_length=32).logits(TEXTS)
    torch_logits = _torch_logits(tiny_sentiment_bert, TEXTS, max_length=32)
    assert onnx_logits.shape == (len(TEXTS), 3)
    np.testing.assert_allclose(onnx_logits, torch_logits, atol=1e-4)


def test_int8_scores_shape_and_mapping(exported: Path, tiny_sentiment_bert: Path) -> None:
    classifier = OnnxClassifier.load(exported, quantized=True, max_length=32)
    logits = classifier.logits(TEXTS)
    scores = classifier.sentiment_logit(TEXTS)
    assert scores.shape == (len(TEXTS),)
    np.testing.assert_allclose(scores, logits[:, 2] - logits[:, 0])
    # int8 stays close to the fp32 model even with random weights.
    reference = _torch_logits(tiny_sentiment_bert, TEXTS, max_length=32)
    assert np.abs(logits - reference).max() < 0.1
    predictions = classifier.predict(TEXTS[:2])
    assert {p["label"] for p in predictions} <= {"negative", "neutral", "positive"}
    assert classifier.logits([]).shape == (0, 3)


def test_api_exports_a_pytorch_checkpoint_once(tiny_sentiment_bert: Path) -> None:
    params = SentimentParams(backend=f"hf:{tiny_sentiment_bert}", max_length=32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback warning
        scores = compute_finbert_scores(TEXTS, params=params)
        again = compute_twitter_scores(TEXTS[:2], params=params)
    loaded = load_scorer(params.backend, params)
    assert loaded.backend == params.backend and not loaded.fallback
    assert load_scorer(params.backend, params) is loaded  # cached, not re-exported
    assert scores.shape == (len(TEXTS),)
    # Dynamic int8 quantises activations per batch: other texts in a batch move scores a bit.
    np.testing.assert_allclose(again, scores[:2], atol=1e-3)


def test_api_opens_an_existing_export(exported: Path) -> None:
    params = SentimentParams(backend=f"hf:{exported}", quantize=False, max_length=32)
    scores = compute_finbert_scores(TEXTS, params=params)
    direct = OnnxClassifier.load(exported, quantized=False, max_length=32)
    np.testing.assert_allclose(scores, direct.sentiment_logit(TEXTS))


def test_model_without_sentiment_labels_falls_back(tmp_path: Path) -> None:
    model_dir = build_tiny_bert(tmp_path / "unlabelled", {0: "LABEL_0", 1: "LABEL_1"})
    params = SentimentParams(backend=f"hf:{model_dir}")
    with pytest.warns(RuntimeWarning, match="no positive / negative label"):
        scores = compute_finbert_scores(["Exchange hacked, $200M stolen"], params=params)
    assert scores[0] < 0  # the lexicon stands in
    assert load_scorer(params.backend, params).fallback
