"""Logistic-regression head on sentence embeddings, stored as JSON coefficients.

The head is multinomial over ``negative / neutral / positive``: ``z = X @ W.T + b`` and
``P = softmax(z)``. Its sentiment logit is ``log P(pos) - log P(neg) = z_pos - z_neg``,
which is exact (the softmax normaliser cancels) and directly comparable with the
``logit_pos - logit_neg`` of a transformers classifier. No pickle: the coefficients are
plain JSON, so a saved head can be read by anything.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

HEAD_FORMAT = 1


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable."""
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


class SentimentHead:
    """A fitted linear softmax classifier over embeddings.

    Args:
        coef: ``(n_classes, dim)`` weights.
        intercept: ``(n_classes,)`` biases.
        classes: Class labels in row order; must include ``positive`` and ``negative``.

    Raises:
        ValueError: On mismatched shapes or missing positive/negative classes.
    """

    def __init__(self, coef: np.ndarray, intercept: np.ndarray, classes: Sequence[str]) -> None:
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.classes = [str(c) for c in classes]
        if self.coef.ndim != 2 or self.coef.shape[0] != len(self.classes) \
                or self.intercept.shape != (len(self.classes),):
            raise ValueError(f"coef {self.coef.shape} / intercept {self.intercept.shape} do "
                             f"not match {len(self.classes)} classes")
        missing = {"positive", "negative"} - set(self.classes)
        if missing:
            raise ValueError(f"head classes {self.classes} lack {sorted(missing)}")

    @classmethod
    def fit(cls, embeddings: np.ndarray, labels: Sequence[str], *, C: float = 1.0,
            seed: int = 42) -> SentimentHead:
        """Fit an L2-regularised multinomial logistic regression (lbfgs).

        Args:
            embeddings: ``(n, dim)`` training embeddings.
            labels: ``n`` labels from ``negative / neutral / positive``.
            C: Inverse regularisation strength.
            seed: Random state of the solver.
        """
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=C, max_iter=2000, random_state=seed)
        model.fit(np.asarray(embeddings, dtype=np.float64), np.asarray(labels))
        coef, intercept = model.coef_, model.intercept_
        if coef.shape[0] == 1:  # two classes: sklearn keeps one row for classes_[1]
            coef = np.vstack([-coef / 2, coef / 2])
            intercept = np.r_[-intercept / 2, intercept / 2]
        return cls(coef, intercept, list(model.classes_))

    @property
    def dim(self) -> int:
        """Embedding width the head expects."""
        return int(self.coef.shape[1])

    def decision(self, embeddings: np.ndarray) -> np.ndarray:
        """Class scores ``z``, shape ``(n, n_classes)``."""
        x = np.asarray(embeddings, dtype=np.float64).reshape(-1, self.dim)
        out: np.ndarray = x @ self.coef.T + self.intercept
        return out

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        """Class probabilities in ``classes`` order, shape ``(n, n_classes)``."""
        return softmax(self.decision(embeddings))

    def predict(self, embeddings: np.ndarray) -> list[str]:
        """Most probable class per row."""
        return [self.classes[i] for i in self.decision(embeddings).argmax(axis=1)]

    def logit(self, embeddings: np.ndarray) -> np.ndarray:
        """``log P(pos) / P(neg)`` per row, shape ``(n,)``."""
        z = self.decision(embeddings)
        return z[:, self.classes.index("positive")] - z[:, self.classes.index("negative")]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready coefficients."""
        return {"format": HEAD_FORMAT, "classes": self.classes,
                "coef": self.coef.tolist(), "intercept": self.intercept.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SentimentHead:
        """Inverse of ``to_dict``.

        Raises:
            ValueError: On an unknown format or malformed coefficients.
        """
        if data.get("format") != HEAD_FORMAT:
            raise ValueError(f"unsupported head format {data.get('format')!r}")
        return cls(np.asarray(data["coef"]), np.asarray(data["intercept"]), data["classes"])

    def save(self, path: Path) -> None:
        """Write the coefficients as JSON to ``path``."""
        Path(path).write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: Path) -> SentimentHead:
        """Read a head written by ``save``."""
        return cls.from_dict(json.loads(Path(path).read_text()))
