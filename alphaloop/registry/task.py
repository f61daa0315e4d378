"""Task identity: which market and question a model answers, and so which champion it meets.

A task is (model kind, symbol, timeframe, target horizon, feature-set hash). Each task is one
registered model in MLflow, named ``<kind>.<symbol>.<timeframe>.h<horizon>.<hash>``, with its
own ``champion`` / ``challenger`` / ``previous_champion`` aliases, so a model of one market
never competes with, or replaces, the champion of another.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

TAG_PREFIX = "task."
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def feature_set_hash(spec: dict[str, Any]) -> str:
    """A short stable hash of what shapes a model's inputs (feature plan, columns, context)."""
    text = json.dumps(spec, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _slug(value: str) -> str:
    return _UNSAFE.sub("-", value).strip("-") or "none"


@dataclass(frozen=True)
class Task:
    """What a trained model is for; equal tasks share one champion."""

    kind: str  # ensemble | sentiment | regime
    symbol: str
    timeframe: str
    horizon: int
    feature_hash: str

    @property
    def registered_name(self) -> str:
        """The MLflow registered-model name (only characters every store accepts)."""
        return ".".join((self.kind, _slug(self.symbol), _slug(self.timeframe),
                         f"h{self.horizon}", self.feature_hash))

    def tags(self) -> dict[str, str]:
        """Tags stamped on the registered model and each version, for search and display."""
        return {f"{TAG_PREFIX}{k}": str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> Task | None:
        """The task recorded in a registered model's tags (None for models made elsewhere)."""
        try:
            return cls(kind=tags[f"{TAG_PREFIX}kind"], symbol=tags[f"{TAG_PREFIX}symbol"],
                       timeframe=tags[f"{TAG_PREFIX}timeframe"],
                       horizon=int(tags[f"{TAG_PREFIX}horizon"]),
                       feature_hash=tags[f"{TAG_PREFIX}feature_hash"])
        except (KeyError, ValueError):
            return None

    def __str__(self) -> str:
        return (f"{self.kind} {self.symbol} {self.timeframe} h{self.horizon} "
                f"[{self.feature_hash}]")
