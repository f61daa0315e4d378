"""Zero-shot catalyst tags: which kind of event (CPI, rates, hack, ...) a headline is about.

Two scorers, both without labelled catalyst data:

- **embedding similarity** (default): cosine similarity of the headline's MiniLM embedding
  with the embedding of each phrasing of a class (``SentimentParams.catalysts``, phrasings
  separated by ``" | "``), the best phrasing per class, clipped to ``[0, 1]``;
- **NLI**: with an NLI checkpoint, the entailment probability of the hypothesis
  ``"This headline is about {phrasing}."`` (softmax over entailment vs contradiction, the
  usual zero-shot recipe, so classes are scored independently), the best phrasing per class.

A headline is tagged with every class whose score reaches the threshold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from alphaloop.models.sentiment.config import phrasings
from alphaloop.models.sentiment.encoder import TextEncoder
from alphaloop.models.sentiment.head import softmax
from alphaloop.models.sentiment.hf_backend import OnnxClassifier, find_labels

HYPOTHESIS = "This headline is about {}."


@dataclass(frozen=True)
class CatalystResult:
    """Tags of one headline.

    Attributes:
        scores: Class -> score in ``[0, 1]``.
        tags: Classes whose score reached the threshold.
    """

    scores: dict[str, float]
    tags: frozenset[str]


@dataclass(frozen=True)
class CatalystAnchors:
    """The catalyst phrasings, embedded once, scoring texts embedded by the same encoder.

    Serving embeds each text once and reuses the embedding for sentiment and catalysts.
    """

    classes: list[str]
    owner: np.ndarray  # phrasing -> class index
    anchors: np.ndarray  # (n_phrasings, dim) embeddings

    @classmethod
    def embed(cls, encoder: TextEncoder, catalysts: Mapping[str, str]) -> CatalystAnchors:
        classes, owner, texts = _expand(catalysts)
        return cls(classes, owner, encoder.encode(texts))

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        """Cosine similarities, best phrasing per class, clipped to ``[0, 1]``."""
        similarity = embeddings @ self.anchors.T
        return np.clip(_best_per_class(similarity, self.owner, len(self.classes)), 0.0, 1.0)


class CatalystTagger:
    """Scores headlines against catalyst classes and tags them.

    Args:
        classes: Class names, in score-column order.
        scorer: Texts -> ``(n, len(classes))`` scores in ``[0, 1]``.
        threshold: Minimum score for a tag.
        method: ``embedding`` or ``nli`` (for reports).
    """

    def __init__(self, classes: Sequence[str],
                 scorer: Callable[[Sequence[str]], np.ndarray], threshold: float,
                 method: str = "embedding") -> None:
        self.classes = list(classes)
        self.scorer = scorer
        self.threshold = threshold
        self.method = method

    @classmethod
    def from_encoder(cls, encoder: TextEncoder, catalysts: Mapping[str, str],
                     threshold: float) -> CatalystTagger:
        """Cosine-similarity tagger; the phrasings are embedded once, here."""
        anchors = CatalystAnchors.embed(encoder, catalysts)

        def scorer(texts: Sequence[str]) -> np.ndarray:
            return anchors.scores(encoder.encode(texts))

        return cls(anchors.classes, scorer, threshold, "embedding")

    @classmethod
    def from_nli(cls, classifier: OnnxClassifier, catalysts: Mapping[str, str],
                 threshold: float, template: str = HYPOTHESIS) -> CatalystTagger:
        """NLI tagger: one premise/hypothesis pair per headline and phrasing.

        Raises:
            ValueError: If the model has no entailment label.
        """
        classes, owner, anchors_text = _expand(catalysts)
        hypotheses = [template.format(text) for text in anchors_text]
        idx = find_labels(classifier.id2label, ("entailment",))

        def scorer(texts: Sequence[str]) -> np.ndarray:
            premises = [t for t in texts for _ in hypotheses]
            logits = classifier.logits(premises, hypotheses * len(texts))
            if "contradiction" in idx:  # entailment vs contradiction only
                entail = softmax(logits[:, [idx["entailment"], idx["contradiction"]]])[:, 0]
            else:
                entail = softmax(logits)[:, idx["entailment"]]
            return _best_per_class(entail.reshape(len(texts), len(hypotheses)), owner,
                                   len(classes))

        return cls(classes, scorer, threshold, "nli")

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Scores, shape ``(n, n_classes)``; ``(0, n_classes)`` for no texts."""
        if not texts:
            return np.zeros((0, len(self.classes)))
        return np.asarray(self.scorer(list(texts)), dtype=np.float64)

    def tag(self, texts: Sequence[str]) -> list[CatalystResult]:
        """Scores and tags per headline."""
        results = []
        for row in self.scores(texts):
            scores = {c: float(s) for c, s in zip(self.classes, row, strict=True)}
            tags = frozenset(c for c, s in scores.items() if s >= self.threshold)
            results.append(CatalystResult(scores, tags))
        return results

    def aggregate(self, texts: Sequence[str]) -> dict[str, float]:
        """Class -> highest score over ``texts`` (0.0 for every class when there are none)."""
        return aggregate_scores(self.scores(texts), self.classes)


def _expand(catalysts: Mapping[str, str]) -> tuple[list[str], np.ndarray, list[str]]:
    # Flatten class -> phrasings into one list and remember each phrasing's class.
    classes = list(catalysts)
    owner, texts = [], []
    for i, name in enumerate(classes):
        for text in phrasings(catalysts[name]):
            owner.append(i)
            texts.append(text)
    return classes, np.asarray(owner, dtype=np.int64), texts


def _best_per_class(scores: np.ndarray, owner: np.ndarray, n_classes: int) -> np.ndarray:
    # (n, n_phrasings) -> (n, n_classes): the best phrasing of each class.
    out = np.full((scores.shape[0], n_classes), -np.inf)
    for j, cls_index in enumerate(owner):
        out[:, cls_index] = np.maximum(out[:, cls_index], scores[:, j])
    return out.astype(np.float64)


def aggregate_scores(scores: np.ndarray, classes: Sequence[str]) -> dict[str, float]:
    """Column-wise maximum of a ``(n, n_classes)`` score matrix as a class dict."""
    if scores.shape[0] == 0:
        return dict.fromkeys(classes, 0.0)
    return {c: float(v) for c, v in zip(classes, scores.max(axis=0), strict=True)}
