"""Public entry points: sentiment logits and catalyst scores that never fail on a bad model.

Models load once per process into a small registry keyed by backend, model folder and the
settings that shape them (``clear_model_cache`` empties it). A model that cannot load
(missing folder, corrupt files, missing package, unusable labels) is replaced by the
Loughran-McDonald lexicon, with a WARNING logged and a ``RuntimeWarning`` issued naming the
path and the reason; results then carry ``fallback=True`` and ``backend="lexicon"``.

Sentiment scores are logits ``log P(pos) / P(neg)`` per text (see ``SentimentModel``,
``OnnxClassifier.sentiment_logit`` and ``LexiconScorer.score``); positive is bullish.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from alphaloop.models.sentiment.catalyst import CatalystResult, CatalystTagger
from alphaloop.models.sentiment.config import HF_PREFIX, LEXICON, MINILM, SentimentParams
from alphaloop.models.sentiment.encoder import (
    OnnxEncoder,
    TextEncoder,
    TorchEncoder,
    minilm_path,
)
from alphaloop.models.sentiment.hf_backend import find_labels, load_or_export
from alphaloop.models.sentiment.lexicon import LexiconScorer
from alphaloop.models.sentiment.model import ENCODER_DIR, SentimentModel

log = logging.getLogger(__name__)

# Where the train stage writes the MiniLM model when no model_dir is given.
DEFAULT_MODEL_DIR = Path("models/sentiment")

Factors = dict[str, float | bool | str]


class Scorer(Protocol):
    """Texts -> sentiment logits."""

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Logits, shape ``(n,)``."""


@dataclass(frozen=True)
class LoadedScorer:
    """A scorer and what it really is.

    Attributes:
        scorer: The object that scores.
        backend: ``minilm``, ``hf:<path>`` or ``lexicon`` (what scores, after any fallback).
        fallback: True when the configured backend failed and the lexicon stands in.
    """

    scorer: Scorer
    backend: str
    fallback: bool


@dataclass(frozen=True)
class LoadedTagger:
    """A catalyst tagger (None when no embedder could load: all scores are 0)."""

    tagger: CatalystTagger | None
    fallback: bool


_CACHE: dict[tuple[Any, ...], Any] = {}
_LOCK = threading.RLock()
_WORKDIRS: list[tempfile.TemporaryDirectory[str]] = []


def clear_model_cache() -> None:
    """Forget every loaded model and delete the temporary ONNX exports."""
    with _LOCK:
        _CACHE.clear()
        while _WORKDIRS:
            _WORKDIRS.pop().cleanup()


def _workdir() -> Path:
    # Exports of hf: checkpoints live as long as the cache (or the process).
    tmp = tempfile.TemporaryDirectory(prefix="alphaloop-onnx-")
    _WORKDIRS.append(tmp)
    return Path(tmp.name)


def _warn(message: str) -> None:
    log.warning(message)
    warnings.warn(message, RuntimeWarning, stacklevel=4)


def _model_dir(model_dir: Path | None) -> Path:
    return Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR


def _build_scorer(backend: str, params: SentimentParams, model_dir: Path | None) -> Scorer:
    if backend == MINILM:
        return SentimentModel.load(_model_dir(model_dir), batch_size=params.batch_size)
    classifier = load_or_export(Path(backend[len(HF_PREFIX):]), _workdir(),
                                quantize=params.quantize, max_length=params.max_length,
                                batch_size=params.batch_size)
    find_labels(classifier.id2label, ("positive", "negative"))  # fail now, not per call
    return classifier


def load_scorer(backend: str, params: SentimentParams | None = None,
                model_dir: Path | None = None) -> LoadedScorer:
    """The cached scorer for ``backend``, or the lexicon if it cannot load (never raises).

    Args:
        backend: ``minilm`` (reads ``model_dir``), ``hf:<path>`` or ``lexicon``.
        params: Quantisation, lengths and batch size; defaults when None.
        model_dir: Folder of the saved MiniLM model; None = ``models/sentiment``.
    """
    params = params or SentimentParams()
    key = ("scorer", backend, str(model_dir), params.quantize, params.max_length,
           params.batch_size)
    with _LOCK:
        if key not in _CACHE:
            if backend == LEXICON:
                _CACHE[key] = LoadedScorer(LexiconScorer(), LEXICON, False)
            else:
                where = _model_dir(model_dir) if backend == MINILM else backend[len(HF_PREFIX):]
                try:
                    _CACHE[key] = LoadedScorer(_build_scorer(backend, params, model_dir),
                                               backend, False)
                except Exception as exc:  # any load failure degrades to the lexicon
                    _warn(f"sentiment backend {backend!r} could not load from {where}: "
                          f"{type(exc).__name__}: {exc}; using the Loughran-McDonald lexicon")
                    _CACHE[key] = LoadedScorer(LexiconScorer(), LEXICON, True)
        loaded: LoadedScorer = _CACHE[key]
        return loaded


def load_embedder(params: SentimentParams, model_dir: Path | None = None) -> TextEncoder:
    """The MiniLM encoder for catalyst similarity.

    The saved model's ONNX encoder when ``model_dir`` (or ``models/sentiment``) holds one,
    else the packaged MiniLM in PyTorch (nothing written to disk).

    Raises:
        Exception: Whatever loading raises; ``load_tagger`` turns it into a fallback.
    """
    encoder_dir = _model_dir(model_dir) / ENCODER_DIR
    if encoder_dir.is_dir():
        return OnnxEncoder.load(encoder_dir, quantized=params.quantize,
                                max_length=params.max_length, batch_size=params.batch_size)
    return TorchEncoder.load(minilm_path(), max_length=params.max_length,
                             batch_size=params.batch_size)


def _build_tagger(params: SentimentParams, model_dir: Path | None) -> CatalystTagger:
    if params.nli_model is not None:
        try:
            classifier = load_or_export(Path(params.nli_model), _workdir(),
                                        quantize=params.quantize, max_length=params.max_length,
                                        batch_size=params.batch_size)
            return CatalystTagger.from_nli(classifier, params.catalysts, params.nli_threshold)
        except Exception as exc:  # the embedding tagger stands in for a broken NLI model
            _warn(f"NLI model could not load from {params.nli_model}: "
                  f"{type(exc).__name__}: {exc}; using embedding similarity")
    return CatalystTagger.from_encoder(load_embedder(params, model_dir), params.catalysts,
                                       params.catalyst_threshold)


def load_tagger(params: SentimentParams | None = None,
                model_dir: Path | None = None) -> LoadedTagger:
    """The cached catalyst tagger; ``tagger=None`` (scores 0) if nothing loads. Never raises."""
    params = params or SentimentParams()
    key = ("tagger", str(model_dir), params.nli_model, tuple(params.catalysts.items()),
           params.catalyst_threshold, params.nli_threshold, params.quantize,
           params.max_length, params.batch_size)
    with _LOCK:
        if key not in _CACHE:
            try:
                _CACHE[key] = LoadedTagger(_build_tagger(params, model_dir), False)
            except Exception as exc:  # catalysts then score 0, flagged as a fallback
                _warn(f"catalyst tagger could not load (model folder "
                      f"{_model_dir(model_dir)}): {type(exc).__name__}: {exc}; "
                      f"catalyst scores are 0")
                _CACHE[key] = LoadedTagger(None, True)
        loaded: LoadedTagger = _CACHE[key]
        return loaded


def limit_texts(texts: Sequence[str], params: SentimentParams) -> list[str]:
    """``texts`` as strings, cut to ``params.max_headlines`` with a warning when longer."""
    if len(texts) > params.max_headlines:
        _warn(f"{len(texts)} texts given; scoring the first {params.max_headlines} "
              f"(sentiment.max_headlines)")
    return [str(t) for t in texts[:params.max_headlines]]


def _score(texts: list[str], backend: str, params: SentimentParams,
           model_dir: Path | None) -> tuple[np.ndarray, LoadedScorer]:
    loaded = load_scorer(backend, params, model_dir)
    if not texts:
        return np.zeros(0), loaded
    try:
        return np.asarray(loaded.scorer.score(texts), dtype=np.float64), loaded
    except Exception as exc:  # a model that loads but fails on input still must not raise
        _warn(f"sentiment backend {loaded.backend!r} failed while scoring: "
              f"{type(exc).__name__}: {exc}; using the Loughran-McDonald lexicon")
        return LexiconScorer().score(texts), LoadedScorer(LexiconScorer(), LEXICON, True)


def compute_finbert_scores(texts: Sequence[str], *, params: SentimentParams | None = None,
                           model_dir: Path | None = None) -> np.ndarray:
    """Headline sentiment logits with ``params.backend`` (FinBERT when set to ``hf:<it>``).

    Returns:
        ``(n,)`` logits, ``n = min(len(texts), max_headlines)``; empty for no texts.
    """
    params = params or SentimentParams()
    return _score(limit_texts(texts, params), params.backend, params, model_dir)[0]


def compute_twitter_scores(texts: Sequence[str], *, params: SentimentParams | None = None,
                           model_dir: Path | None = None) -> np.ndarray:
    """Tweet sentiment logits with ``params.social_backend`` (else ``params.backend``)."""
    params = params or SentimentParams()
    return _score(limit_texts(texts, params), params.tweet_backend, params, model_dir)[0]


def tag_headlines(texts: Sequence[str], *, params: SentimentParams | None = None,
                  model_dir: Path | None = None) -> list[CatalystResult]:
    """Per headline: class -> score and the set of tags (all zero if no tagger loads)."""
    params = params or SentimentParams()
    texts = limit_texts(texts, params)
    tagger = load_tagger(params, model_dir).tagger
    if tagger is None:
        return [CatalystResult(dict.fromkeys(params.catalysts, 0.0), frozenset())
                for _ in texts]
    return tagger.tag(texts)


def _catalyst_scores(texts: list[str], params: SentimentParams,
                     model_dir: Path | None) -> tuple[dict[str, float], bool]:
    loaded = load_tagger(params, model_dir)
    if loaded.tagger is None or not texts:
        return dict.fromkeys(params.catalysts, 0.0), loaded.fallback
    try:
        return loaded.tagger.aggregate(texts), loaded.fallback
    except Exception as exc:  # never raise from scoring
        _warn(f"catalyst tagger failed while scoring: {type(exc).__name__}: {exc}; "
              f"catalyst scores are 0")
        return dict.fromkeys(params.catalysts, 0.0), True


def compute_catalyst_tags(texts: Sequence[str], *, params: SentimentParams | None = None,
                          model_dir: Path | None = None) -> dict[str, float]:
    """Class -> highest catalyst score over ``texts`` in ``[0, 1]`` (every class present)."""
    params = params or SentimentParams()
    return _catalyst_scores(limit_texts(texts, params), params, model_dir)[0]


def sentiment_and_catalyst(headlines: Sequence[str], tweets: Sequence[str], *,
                           params: SentimentParams | None = None,
                           model_dir: Path | None = None) -> Factors:
    """Blocking version of ``compute_sentiment_and_catalyst``."""
    params = params or SentimentParams()
    heads, social = limit_texts(headlines, params), limit_texts(tweets, params)
    fin, fin_model = _score(heads, params.backend, params, model_dir)
    soc, soc_model = _score(social, params.tweet_backend, params, model_dir)
    catalysts, tag_fallback = _catalyst_scores(heads, params, model_dir)
    return {
        "fin_sent_logit": float(fin.mean()) if fin.size else 0.0,
        "social_sent_logit": float(soc.mean()) if soc.size else 0.0,
        **catalysts,
        "fallback": fin_model.fallback or soc_model.fallback or tag_fallback,
        "backend": fin_model.backend,
    }


async def compute_sentiment_and_catalyst(headlines: list[str], tweets: list[str], *,
                                         params: SentimentParams | None = None,
                                         model_dir: Path | None = None) -> Factors:
    """Sentiment and catalyst factors for one batch of news, off the event loop.

    Args:
        headlines: News headlines (scored with ``params.backend``, tagged for catalysts).
        tweets: Social posts (scored with ``params.social_backend`` or ``params.backend``).
        params: The ``sentiment:`` section; defaults when None.
        model_dir: Folder of the saved MiniLM model; None = ``models/sentiment``.

    Returns:
        ``fin_sent_logit`` and ``social_sent_logit`` (mean logit, 0.0 with no texts), one
        key per catalyst class (highest score over the headlines, 0..1), ``fallback`` (True
        when any model was replaced by its fallback) and ``backend`` (what scored the
        headlines: ``minilm``, ``hf:<path>`` or ``lexicon``).
    """
    return await asyncio.to_thread(sentiment_and_catalyst, headlines, tweets,
                                   params=params, model_dir=model_dir)
