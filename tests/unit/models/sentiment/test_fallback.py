"""A model that cannot load never breaks the API: the lexicon stands in, with a warning."""

from __future__ import annotations

import asyncio
import logging
import shutil
import sys
from pathlib import Path

import pytest

from alphaloop.models.sentiment import (
    SentimentParams,
    compute_catalyst_tags,
    compute_finbert_scores,
    compute_sentiment_and_catalyst,
    load_scorer,
)
from alphaloop.models.sentiment import api as sentiment_api
from alphaloop.models.sentiment.encoder import INT8_FILE
from tests.unit.models.sentiment.conftest import FAKE_CATALYSTS, BagOfWordsEncoder

HACK = "Exchange hacked, $200M stolen"


@pytest.fixture
def fake_embedder(monkeypatch: pytest.MonkeyPatch, bow_encoder: BagOfWordsEncoder
                  ) -> BagOfWordsEncoder:
    """Catalyst similarity on bag-of-words vectors instead of the packaged MiniLM."""
    monkeypatch.setattr(sentiment_api, "load_embedder", lambda params, model_dir: bow_encoder)
    return bow_encoder


def test_missing_model_dir_falls_back_to_lexicon(
        tmp_path: Path, fake_embedder: BagOfWordsEncoder,
        caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "no-such-model"
    params = SentimentParams(catalysts=FAKE_CATALYSTS)
    with caplog.at_level(logging.WARNING), \
            pytest.warns(RuntimeWarning, match=str(missing)):
        factors = asyncio.run(compute_sentiment_and_catalyst([HACK], [], params=params,
                                                             model_dir=missing))
    assert factors["fallback"] is True and factors["backend"] == "lexicon"
    assert isinstance(factors["fin_sent_logit"], float) and factors["fin_sent_logit"] < 0
    assert factors["hack-exploit"] > 0.5  # catalysts still come from the embedder
    assert any(str(missing) in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)


def test_missing_hf_path_falls_back(tmp_path: Path) -> None:
    missing = tmp_path / "finbert"
    params = SentimentParams(backend=f"hf:{missing}")
    with pytest.warns(RuntimeWarning, match="could not load"):
        scores = compute_finbert_scores([HACK, "Board meeting on Tuesday"], params=params)
    assert scores[0] < 0 and scores[1] == 0.0
    loaded = load_scorer(params.backend, params)
    assert loaded.fallback and loaded.backend == "lexicon"


@pytest.mark.parametrize("damage", ["manifest", "graph", "head"])
def test_corrupt_model_dir_falls_back(tiny_model_dir: Path, tmp_path: Path, damage: str,
                                      fake_embedder: BagOfWordsEncoder) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    target = {"manifest": broken / "manifest.json", "graph": broken / "encoder" / INT8_FILE,
              "head": broken / "head.json"}[damage]
    target.write_bytes(b"\x00 not what you expected {")
    params = SentimentParams(catalysts=FAKE_CATALYSTS)
    with pytest.warns(RuntimeWarning, match="broken"):
        factors = asyncio.run(compute_sentiment_and_catalyst([HACK], ["great gains"],
                                                             params=params, model_dir=broken))
    assert factors["fallback"] is True and factors["backend"] == "lexicon"
    assert factors["social_sent_logit"] > 0


def test_corrupt_hf_export_falls_back(tmp_path: Path) -> None:
    broken = tmp_path / "finbert-onnx"
    broken.mkdir()
    (broken / "model.onnx").write_bytes(b"garbage")
    (broken / "config.json").write_text('{"id2label": {"0": "negative", "1": "positive"}}')
    params = SentimentParams(backend=f"hf:{broken}")
    with pytest.warns(RuntimeWarning, match=str(broken)):
        scores = compute_finbert_scores([HACK], params=params)
    assert scores.shape == (1,) and scores[0] < 0


def test_missing_package_falls_back(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                    fake_embedder: BagOfWordsEncoder) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    with pytest.warns(RuntimeWarning, match="onnxruntime"):
        scores = compute_finbert_scores([HACK], model_dir=tiny_model_dir)
    assert scores[0] < 0


def test_broken_embedder_gives_zero_catalysts(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(params: SentimentParams, model_dir: Path | None) -> BagOfWordsEncoder:
        raise OSError("weights unreadable")

    monkeypatch.setattr(sentiment_api, "load_embedder", broken)
    params = SentimentParams(backend="lexicon")
    with pytest.warns(RuntimeWarning, match="weights unreadable"):
        factors = asyncio.run(compute_sentiment_and_catalyst([HACK], [], params=params))
    assert all(factors[name] == 0.0 for name in params.catalysts)
    assert factors["fallback"] is True and factors["backend"] == "lexicon"


def test_broken_nli_model_uses_embedding_similarity(tmp_path: Path,
                                                    fake_embedder: BagOfWordsEncoder) -> None:
    params = SentimentParams(backend="lexicon", catalysts=FAKE_CATALYSTS,
                             nli_model=str(tmp_path / "no-nli"))
    with pytest.warns(RuntimeWarning, match="NLI model could not load"):
        tags = compute_catalyst_tags([HACK], params=params)
    assert tags["hack-exploit"] > 0.5
