"""Sentiment and catalyst factors from news headlines and social posts.

``SentimentParams`` imports cheaply (pydantic only); everything else loads on first use of a
name from this package, and torch / transformers / optimum / onnxruntime only when a model is
exported or opened. Typical use::

    factors = await compute_sentiment_and_catalyst(headlines, tweets)
    factors["fin_sent_logit"], factors["social_sent_logit"], factors["macro-CPI"]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alphaloop._lazy import lazy_attributes
from alphaloop.models.sentiment.config import DEFAULT_CATALYSTS, SentimentParams

if TYPE_CHECKING:
    from alphaloop.models.sentiment.api import (
        clear_model_cache,
        compute_catalyst_tags,
        compute_finbert_scores,
        compute_sentiment_and_catalyst,
        compute_twitter_scores,
        load_scorer,
        load_tagger,
        sentiment_and_catalyst,
        tag_headlines,
    )
    from alphaloop.models.sentiment.catalyst import CatalystResult, CatalystTagger
    from alphaloop.models.sentiment.encoder import (
        OnnxEncoder,
        TextEncoder,
        TorchEncoder,
        export_encoder,
        minilm_path,
    )
    from alphaloop.models.sentiment.head import SentimentHead
    from alphaloop.models.sentiment.hf_backend import OnnxClassifier, export_classifier
    from alphaloop.models.sentiment.lexicon import LexiconScorer
    from alphaloop.models.sentiment.model import (
        SentimentModel,
        SentimentReport,
        load_headlines,
        train_sentiment,
    )

_MODULES = {
    "api": ("clear_model_cache", "compute_catalyst_tags", "compute_finbert_scores",
            "compute_sentiment_and_catalyst", "compute_twitter_scores", "load_scorer",
            "load_tagger", "sentiment_and_catalyst", "tag_headlines"),
    "catalyst": ("CatalystResult", "CatalystTagger"),
    "encoder": ("OnnxEncoder", "TextEncoder", "TorchEncoder", "export_encoder", "minilm_path"),
    "head": ("SentimentHead",),
    "hf_backend": ("OnnxClassifier", "export_classifier"),
    "lexicon": ("LexiconScorer",),
    "model": ("SentimentModel", "SentimentReport", "load_headlines", "train_sentiment"),
}
_LAZY = {name: f"{__name__}.{module}" for module, names in _MODULES.items() for name in names}


__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = [
    "DEFAULT_CATALYSTS",
    "CatalystResult",
    "CatalystTagger",
    "LexiconScorer",
    "OnnxClassifier",
    "OnnxEncoder",
    "SentimentHead",
    "SentimentModel",
    "SentimentParams",
    "SentimentReport",
    "TextEncoder",
    "TorchEncoder",
    "clear_model_cache",
    "compute_catalyst_tags",
    "compute_finbert_scores",
    "compute_sentiment_and_catalyst",
    "compute_twitter_scores",
    "export_classifier",
    "export_encoder",
    "load_headlines",
    "load_scorer",
    "load_tagger",
    "minilm_path",
    "sentiment_and_catalyst",
    "tag_headlines",
    "train_sentiment",
]
