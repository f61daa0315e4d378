"""The Loughran-McDonald baseline: signs on clear examples and the logit mapping."""

from __future__ import annotations

import numpy as np

from alphaloop.models.sentiment import LexiconScorer


def test_signs_on_clear_examples() -> None:
    scorer = LexiconScorer()
    texts = [
        "Exchange hacked, $200M stolen",
        "Company reports strong gains and record profitability",
        "Regulator files lawsuit alleging fraud and losses",
        "Board meeting scheduled for Tuesday",
    ]
    scores = scorer.score(texts)
    assert scores[0] < 0 and scores[2] < 0
    assert scores[1] > 0
    assert scores[3] == 0.0
    assert scorer.predict_labels(texts) == ["negative", "positive", "negative", "neutral"]


def test_logit_is_smoothed_log_odds_of_the_word_counts() -> None:
    scorer = LexiconScorer()
    texts = ["strong gains", "fraud and losses in a lawsuit", "nothing here"]
    counts = scorer.counts(texts)
    expected = np.log((counts[:, 0] + 0.5) / (counts[:, 1] + 0.5))
    np.testing.assert_allclose(scorer.score(texts), expected)
    polarity = scorer.polarity(texts)
    assert np.all(np.abs(polarity) <= 1.0)
    assert np.array_equal(np.sign(polarity), np.sign(scorer.score(texts)))


def test_empty_input_and_predict_shape() -> None:
    scorer = LexiconScorer()
    assert scorer.score([]).shape == (0,)
    (result,) = scorer.predict(["Profit warning: losses widen"])
    assert result["label"] == "negative"
    assert abs(sum(result["probabilities"].values()) - 1.0) < 1e-9
