"""The logistic-regression head, the training report and the labelled headline file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alphaloop.models.sentiment import (
    SentimentHead,
    SentimentModel,
    SentimentParams,
    load_headlines,
    train_sentiment,
)
from tests.conftest import REPO
from tests.unit.models.sentiment.conftest import BagOfWordsEncoder

HEADLINES = REPO / "data" / "text" / "headlines.csv"


def _clustered(n: int = 240, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Three separable Gaussian clusters, one per label."""
    rng = np.random.default_rng(seed)
    labels = np.array(["negative", "neutral", "positive"] * (n // 3))
    centers = {"negative": -4.0, "neutral": 0.0, "positive": 4.0}
    x = rng.normal(size=(n, dim))
    x[:, 0] += [centers[y] for y in labels]
    return x, labels.tolist()


def test_head_save_load_round_trip(tmp_path: Path) -> None:
    x, y = _clustered()
    head = SentimentHead.fit(x, y, C=1.0, seed=0)
    head.save(tmp_path / "head.json")
    data = json.loads((tmp_path / "head.json").read_text())
    assert set(data) == {"format", "classes", "coef", "intercept"}
    loaded = SentimentHead.load(tmp_path / "head.json")
    assert loaded.classes == head.classes == ["negative", "neutral", "positive"]
    np.testing.assert_array_equal(loaded.coef, head.coef)  # JSON floats round-trip exactly
    np.testing.assert_array_equal(loaded.intercept, head.intercept)
    np.testing.assert_allclose(loaded.predict_proba(x), head.predict_proba(x), rtol=1e-12)


def test_head_logit_is_log_ratio_of_probabilities() -> None:
    x, y = _clustered()
    head = SentimentHead.fit(x, y)
    proba = head.predict_proba(x)
    pos, neg = head.classes.index("positive"), head.classes.index("negative")
    np.testing.assert_allclose(head.logit(x), np.log(proba[:, pos] / proba[:, neg]), atol=1e-9)
    assert np.mean(head.logit(x)[np.array(y) == "positive"]) > 0
    assert np.mean(head.logit(x)[np.array(y) == "negative"]) < 0


def test_head_rejects_malformed_coefficients() -> None:
    with pytest.raises(ValueError, match="lack"):
        SentimentHead(np.zeros((2, 3)), np.zeros(2), ["neutral", "positive"])
    with pytest.raises(ValueError, match="do not match"):
        SentimentHead(np.zeros((3, 3)), np.zeros(2), ["negative", "neutral", "positive"])
    with pytest.raises(ValueError, match="format"):
        SentimentHead.from_dict({"format": 99})


def test_train_sentiment_reports_head_and_baselines() -> None:
    x, y = _clustered(n=300)
    frame = pd.DataFrame({"headline": [f"headline {i}" for i in range(len(y))], "label": y})
    params = SentimentParams(test_fraction=0.2, seed=3)
    report = train_sentiment(frame, params, embeddings=x)
    assert set(report.metrics) == {"minilm", "lexicon", "majority"}
    assert report.metrics["minilm"]["accuracy"] > 0.9
    assert report.metrics["majority"]["accuracy"] == pytest.approx(1 / 3, abs=0.02)
    assert report.metrics["minilm"]["n"] == len(report.test_index) == 60
    assert not set(report.train_index) & set(report.test_index)
    # Stratified: every label keeps its share in the held-out part.
    held_out = pd.Series(np.array(y)[report.test_index]).value_counts()
    assert held_out.to_dict() == {"negative": 20, "neutral": 20, "positive": 20}
    again = train_sentiment(frame, params, embeddings=x)
    assert np.array_equal(again.test_index, report.test_index)


def test_sentiment_model_scores_and_predicts(bow_encoder: BagOfWordsEncoder) -> None:
    texts = ["record profit surge", "exchange hacked stolen", "fed holds rates"] * 20
    labels = ["positive", "negative", "neutral"] * 20
    head = SentimentHead.fit(bow_encoder.encode(texts), labels)
    model = SentimentModel(bow_encoder, head)
    scores = model.score(["record profit surge", "exchange hacked stolen"])
    assert scores.shape == (2,) and scores[0] > 0 > scores[1]
    (pred,) = model.predict(["fed holds rates"])
    assert pred["label"] == "neutral"
    assert set(pred["probabilities"]) == {"negative", "neutral", "positive"}
    assert model.score([]).shape == (0,) and model.predict([]) == []
    with pytest.raises(TypeError, match="OnnxEncoder"):
        model.save(Path("unused"))


def test_load_headlines_validates(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("headline,label\nSomething happened,bullish\n")
    with pytest.raises(ValueError, match="unknown label"):
        load_headlines(bad)
    bad.write_text("text,label\nSomething happened,neutral\n")
    with pytest.raises(ValueError, match="missing column"):
        load_headlines(bad)


def test_committed_dataset_is_balanced_and_unique() -> None:
    frame = load_headlines(HEADLINES)
    assert 450 <= len(frame) <= 600
    counts = frame["label"].value_counts()
    assert set(counts.index) == {"negative", "neutral", "positive"}
    assert counts.min() / counts.max() > 0.8
    assert not frame["headline"].str.lower().duplicated().any()
