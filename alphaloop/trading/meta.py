"""The meta-score and the entry gate (the seeds' ``compute_meta_score`` / ``gate_entry``).

Every score is on [-1, 1], positive meaning "up":

- ``micro_score``: order-book depth imbalance (:func:`alphaloop.features.orderbook
  .calculate_imbalance`);
- ``tech_score``: the direction model, ``2 P(up) - 1``;
- ``sentiment_score``: news sentiment, ``tanh(fin_sent_logit)``;
- ``regime_score``: the regime forecaster, ``tanh(forecast_return / forecast_volatility)``.

The meta-score is their weighted mean over the scores that are present (a missing input is
left out and the remaining weights are renormalised, so a bar without an order book is not
scored as a neutral book). The entry gate vetoes entries against strong opposing news or in
a blocked regime; it never forces an exit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TypeGuard

DEFAULT_WEIGHTS: dict[str, float] = {"micro": 0.3, "tech": 0.2, "sentiment": 0.3,
                                     "regime": 0.2}


def _finite(value: float | None) -> TypeGuard[float]:
    return value is not None and math.isfinite(value)


def compute_meta_score(micro_score: float | None, tech_score: float | None,
                       sentiment_score: float | None, regime_score: float | None,
                       weights: Mapping[str, float] | None = None) -> float:
    """Weighted mean of the scores present, clipped to [-1, 1]; NaN when none is present.

    Args:
        micro_score, tech_score, sentiment_score, regime_score: Scores on [-1, 1], or None
            (or NaN) when that input is unavailable for this bar.
        weights: Non-negative weights keyed ``micro``, ``tech``, ``sentiment``, ``regime``
            (default the seeds' 0.3 / 0.2 / 0.3 / 0.2).

    Raises:
        ValueError: On an unknown or negative weight.
    """
    weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
    unknown = set(weights) - set(DEFAULT_WEIGHTS)
    if unknown or any(w < 0 or not math.isfinite(w) for w in weights.values()):
        raise ValueError(f"weights must be non-negative and keyed {sorted(DEFAULT_WEIGHTS)}, "
                         f"got {weights}")
    scores = {"micro": micro_score, "tech": tech_score, "sentiment": sentiment_score,
              "regime": regime_score}
    present = {k: v for k, v in scores.items() if _finite(v) and weights.get(k, 0.0) > 0}
    total = sum(weights[k] for k in present)
    if total == 0:
        return math.nan
    mean = sum(weights[k] * max(-1.0, min(1.0, v)) for k, v in present.items()) / total
    return max(-1.0, min(1.0, mean))


def gate_entry(sentiment_score: float | None, regime_label: str | None,
               threshold: float = 0.1, side: int = 1,
               blocked_regimes: Iterable[str] = ("high_vol",)) -> bool:
    """Whether a new position on ``side`` may be opened.

    Refused when the regime label is blocked, or when news sentiment opposes the side by
    more than ``threshold`` (``side * sentiment_score < -threshold``). Missing sentiment or
    regime never refuses (no news is not bad news).
    """
    if regime_label is not None and regime_label in set(blocked_regimes):
        return False
    return not (_finite(sentiment_score) and side * sentiment_score < -threshold)


def tech_score(prob_up: float) -> float:
    return 2.0 * prob_up - 1.0 if _finite(prob_up) else math.nan


def sentiment_score(fin_sent_logit: float | None) -> float:
    return math.tanh(fin_sent_logit) if _finite(fin_sent_logit) else math.nan


def regime_score(forecast_return: float | None, forecast_volatility: float | None) -> float:
    if _finite(forecast_return) and _finite(forecast_volatility) and forecast_volatility > 0:
        return math.tanh(forecast_return / forecast_volatility)
    return math.nan
