"""Catalyst tagging with an injected bag-of-words embedder, and the NLI variant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alphaloop.models.sentiment import (
    DEFAULT_CATALYSTS,
    CatalystTagger,
    OnnxClassifier,
    SentimentParams,
    export_classifier,
)
from alphaloop.models.sentiment.config import phrasings
from tests.unit.models.sentiment.conftest import FAKE_CATALYSTS, BagOfWordsEncoder

HEADLINES = [
    "Fed hikes rates by 75bp",
    "Exchange hacked, $200M stolen",
    "Bitcoin ETF inflows hit a record",
    "Consumer prices rise as CPI inflation tops forecasts",
    "Company beats earnings",
]


def test_embedding_tagger_tags_each_headline(bow_encoder: BagOfWordsEncoder) -> None:
    tagger = CatalystTagger.from_encoder(bow_encoder, FAKE_CATALYSTS, threshold=0.5)
    results = tagger.tag(HEADLINES)
    assert [set(r.tags) for r in results] == [
        {"rates-central-bank"}, {"hack-exploit"}, {"etf-flows"}, {"macro-CPI"}, set()]
    for result in results:
        assert set(result.scores) == set(FAKE_CATALYSTS)
        assert all(0.0 <= s <= 1.0 for s in result.scores.values())


def test_class_score_is_its_best_phrasing(bow_encoder: BagOfWordsEncoder) -> None:
    tagger = CatalystTagger.from_encoder(bow_encoder, FAKE_CATALYSTS, threshold=0.5)
    (row,) = tagger.scores(["etf outflows"])
    etf = list(FAKE_CATALYSTS).index("etf-flows")
    assert row[etf] == pytest.approx(1.0)  # identical to the phrasing "etf outflows"


def test_aggregate_is_max_per_class_with_every_class(bow_encoder: BagOfWordsEncoder) -> None:
    tagger = CatalystTagger.from_encoder(bow_encoder, FAKE_CATALYSTS, threshold=0.5)
    aggregate = tagger.aggregate(HEADLINES)
    assert list(aggregate) == list(FAKE_CATALYSTS)
    np.testing.assert_allclose(list(aggregate.values()), tagger.scores(HEADLINES).max(axis=0))
    assert tagger.aggregate([]) == dict.fromkeys(FAKE_CATALYSTS, 0.0)
    assert tagger.scores([]).shape == (0, len(FAKE_CATALYSTS))


def test_default_catalysts_cover_the_documented_classes() -> None:
    params = SentimentParams()
    assert {"macro-CPI", "rates-central-bank", "earnings", "m-and-a", "regulation",
            "hack-exploit", "listing-delisting", "etf-flows"} <= set(params.catalysts)
    assert all(phrasings(text) for text in DEFAULT_CATALYSTS.values())
    with pytest.raises(ValueError, match="reserved"):
        SentimentParams(catalysts={"backend": "x"})
    with pytest.raises(ValueError, match="without a description"):
        SentimentParams(catalysts={"earnings": " | "})


def test_nli_tagger_scores_entailment(tiny_nli_bert: Path, tmp_path: Path) -> None:
    classifier = OnnxClassifier.load(export_classifier(tiny_nli_bert, tmp_path, quantize=False))
    tagger = CatalystTagger.from_nli(classifier, FAKE_CATALYSTS, threshold=0.5)
    scores = tagger.scores(HEADLINES[:3])
    assert tagger.method == "nli" and scores.shape == (3, len(FAKE_CATALYSTS))
    assert np.all((scores >= 0.0) & (scores <= 1.0))
    # Entailment vs contradiction of one pair, by hand, equals the class score.
    hypothesis = "This headline is about fed rates."
    logits = classifier.logits([HEADLINES[0]], [hypothesis])[0]
    by_hand = 1.0 / (1.0 + np.exp(logits[0] - logits[2]))
    rates = list(FAKE_CATALYSTS).index("rates-central-bank")
    other = classifier.logits([HEADLINES[0]], ["This headline is about ecb rates."])[0]
    assert scores[0, rates] == pytest.approx(max(by_hand, 1 / (1 + np.exp(other[0] - other[2]))))
