"""The public API: documented keys, empty and oversized input, one load per process."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path

import numpy as np
import pytest

from alphaloop.models.sentiment import (
    SentimentModel,
    SentimentParams,
    compute_catalyst_tags,
    compute_finbert_scores,
    compute_sentiment_and_catalyst,
    compute_twitter_scores,
    load_scorer,
    tag_headlines,
)
from alphaloop.models.sentiment import api as sentiment_api
from tests.unit.models.sentiment.conftest import FAKE_CATALYSTS, BagOfWordsEncoder

HEADLINES = ["Fed hikes rates by 75bp", "Exchange hacked, $200M stolen"]
TWEETS = ["bitcoin rally looks strong", "this exchange hack is a disaster"]


@pytest.fixture
def fake_embedder(monkeypatch: pytest.MonkeyPatch, bow_encoder: BagOfWordsEncoder
                  ) -> BagOfWordsEncoder:
    monkeypatch.setattr(sentiment_api, "load_embedder", lambda params, model_dir: bow_encoder)
    return bow_encoder


def _documented_keys(params: SentimentParams) -> set[str]:
    return {"fin_sent_logit", "social_sent_logit", "fallback", "backend", *params.catalysts}


def test_async_api_returns_documented_keys(tiny_model_dir: Path) -> None:
    params = SentimentParams(max_length=32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # nothing falls back
        factors = asyncio.run(compute_sentiment_and_catalyst(
            HEADLINES, TWEETS, params=params, model_dir=tiny_model_dir))
    assert set(factors) == _documented_keys(params)
    assert factors["backend"] == "minilm" and factors["fallback"] is False
    for name in ("fin_sent_logit", "social_sent_logit", *params.catalysts):
        assert isinstance(factors[name], float)
    for name in params.catalysts:
        assert 0.0 <= factors[name] <= 1.0  # type: ignore[operator]
    model = SentimentModel.load(tiny_model_dir)
    assert factors["fin_sent_logit"] == pytest.approx(float(model.score(HEADLINES).mean()))
    assert factors["social_sent_logit"] == pytest.approx(float(model.score(TWEETS).mean()))


def test_empty_input_gives_zeros(fake_embedder: BagOfWordsEncoder) -> None:
    params = SentimentParams(backend="lexicon", catalysts=FAKE_CATALYSTS)
    factors = asyncio.run(compute_sentiment_and_catalyst([], [], params=params))
    assert set(factors) == _documented_keys(params)
    assert factors["fin_sent_logit"] == 0.0 and factors["social_sent_logit"] == 0.0
    assert all(factors[name] == 0.0 for name in FAKE_CATALYSTS)
    assert compute_finbert_scores([], params=params).shape == (0,)
    assert compute_twitter_scores([], params=params).shape == (0,)
    assert compute_catalyst_tags([], params=params) == dict.fromkeys(FAKE_CATALYSTS, 0.0)
    assert tag_headlines([], params=params) == []


def test_oversized_input_is_truncated_with_a_warning(fake_embedder: BagOfWordsEncoder) -> None:
    params = SentimentParams(backend="lexicon", catalysts=FAKE_CATALYSTS, max_headlines=5)
    texts = ["Profit warning: losses widen"] * 4 + ["strong gains"] * 8
    with pytest.warns(RuntimeWarning, match="first 5"):
        scores = compute_finbert_scores(texts, params=params)
    assert scores.shape == (5,)
    with pytest.warns(RuntimeWarning, match="max_headlines"):
        tagged = tag_headlines(texts, params=params)
    assert len(tagged) == 5
    with pytest.warns(RuntimeWarning, match="first 5"):
        factors = asyncio.run(compute_sentiment_and_catalyst(texts, [], params=params))
    assert factors["fin_sent_logit"] == pytest.approx(float(scores.mean()))


def test_catalyst_api_with_injected_embedder(fake_embedder: BagOfWordsEncoder) -> None:
    params = SentimentParams(backend="lexicon", catalysts=FAKE_CATALYSTS,
                             catalyst_threshold=0.5)
    tags = tag_headlines(HEADLINES, params=params)
    assert [set(t.tags) for t in tags] == [{"rates-central-bank"}, {"hack-exploit"}]
    aggregate = compute_catalyst_tags(HEADLINES, params=params)
    assert set(aggregate) == set(FAKE_CATALYSTS)
    assert aggregate["hack-exploit"] > 0.5 and aggregate["etf-flows"] == 0.0


def test_models_load_once_per_process(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                      fake_embedder: BagOfWordsEncoder) -> None:
    loads: list[Path] = []
    real_load = SentimentModel.load

    def counting_load(directory: Path, **kwargs: object) -> SentimentModel:
        loads.append(directory)
        return real_load(directory, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(SentimentModel, "load", staticmethod(counting_load))
    params = SentimentParams(catalysts=FAKE_CATALYSTS, max_length=32)

    async def many() -> list[dict[str, float | bool | str]]:
        calls = [compute_sentiment_and_catalyst(HEADLINES, TWEETS, params=params,
                                                model_dir=tiny_model_dir) for _ in range(4)]
        return await asyncio.gather(*calls)

    results = asyncio.run(many())
    assert len(loads) == 1
    assert fake_embedder.calls == 1 + 4  # the phrasings once, then one encode per call
    assert all(r == results[0] for r in results)
    first = load_scorer("minilm", params, tiny_model_dir)
    assert load_scorer("minilm", params, tiny_model_dir) is first


def test_social_backend_scores_tweets_separately(tiny_model_dir: Path,
                                                 fake_embedder: BagOfWordsEncoder) -> None:
    params = SentimentParams(social_backend="lexicon", catalysts=FAKE_CATALYSTS,
                             max_length=32)
    factors = asyncio.run(compute_sentiment_and_catalyst(HEADLINES, TWEETS, params=params,
                                                         model_dir=tiny_model_dir))
    lexicon = compute_twitter_scores(TWEETS, params=params)
    assert factors["backend"] == "minilm"
    assert factors["social_sent_logit"] == pytest.approx(float(np.mean(lexicon)))


def test_backend_strings_are_validated() -> None:
    for bad in ("finbert", "hf:", "hf:   ", ""):
        with pytest.raises(ValueError, match="backend must be"):
            SentimentParams(backend=bad)
    assert SentimentParams(backend="hf:/models/finbert").tweet_backend == "hf:/models/finbert"


def test_concurrent_scoring_never_falls_back(tiny_model_dir: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    params = SentimentParams(backend="minilm", max_length=32)
    texts = [HEADLINES, TWEETS, [*HEADLINES, *TWEETS]]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        expected = [compute_finbert_scores(t, params=params, model_dir=tiny_model_dir)
                    for t in texts]
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(
                lambda i: compute_finbert_scores(texts[i % 3], params=params,
                                                 model_dir=tiny_model_dir), range(48)))
    for i, scores in enumerate(results):
        np.testing.assert_allclose(scores, expected[i % 3], atol=1e-6)
