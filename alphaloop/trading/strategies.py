"""Strategies: plugins chosen by name that open or close the entry gate for a bar.

A strategy sees the bar's context (the direction model's P(up), the meta-score, news
sentiment, the regime label, the order book) and returns the probability the decision rules
trade on and whether a new position may be opened. Sizing, costs, stops and the kill switch
stay in :func:`alphaloop.trading.decide`, the same for every strategy, so the backtester and
the trader share them.

- ``ml_enhanced`` (the seeds' ``MLEnhancedStrategy``): the ensemble's P(up); an entry needs
  the entry gate (:func:`alphaloop.trading.meta.gate_entry`) and a meta-score that agrees
  with the side by at least ``min_meta_agreement``.
- ``orderbook_enhanced`` (the seeds' ``OrderBookEnhancedStrategy``): as ``ml_enhanced``, and
  the book must lean the same way (``side * imbalance >= min_imbalance`` over ``depth``
  levels) with no whale wall against the side (strength >= ``wall_strength``). Without a
  snapshot no entry is made: the strategy cannot check what it promises.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field

from alphaloop.features.orderbook import (
    OrderBookSnapshot,
    calculate_imbalance,
    detect_whale_walls,
)
from alphaloop.trading.meta import gate_entry


@dataclass(frozen=True)
class BarContext:
    """What a strategy sees at one bar's close."""

    prob_up: float
    meta_score: float = math.nan
    sentiment_score: float | None = None
    regime_label: str | None = None
    book: OrderBookSnapshot | None = None


@dataclass(frozen=True)
class StrategySignal:
    prob_up: float
    allow_entry: bool
    note: str


class Strategy(Protocol):
    name: ClassVar[str]

    def signal(self, ctx: BarContext) -> StrategySignal: ...


class MLEnhancedParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sentiment_threshold: float = Field(default=0.1, ge=0.0)
    blocked_regimes: list[str] = Field(default_factory=lambda: ["high_vol"])
    min_meta_agreement: float = Field(default=0.0, ge=0.0, le=1.0)


class OrderBookParams(MLEnhancedParams):
    depth: int = Field(default=10, ge=1)
    min_imbalance: float = Field(default=0.1, ge=0.0, le=1.0)
    wall_strength: float = Field(default=5.0, gt=0.0)


class MLEnhancedStrategy:
    name: ClassVar[str] = "ml_enhanced"

    def __init__(self, params: MLEnhancedParams | None = None) -> None:
        self.params = params or MLEnhancedParams()

    def signal(self, ctx: BarContext) -> StrategySignal:
        if not math.isfinite(ctx.prob_up):
            return StrategySignal(ctx.prob_up, False, "no signal")
        side = 1 if ctx.prob_up >= 0.5 else -1
        p = self.params
        if not gate_entry(ctx.sentiment_score, ctx.regime_label, p.sentiment_threshold, side,
                          p.blocked_regimes):
            return StrategySignal(ctx.prob_up, False,
                                  f"gate: regime {ctx.regime_label}, sentiment "
                                  f"{ctx.sentiment_score}")
        if math.isfinite(ctx.meta_score) and side * ctx.meta_score < p.min_meta_agreement:
            return StrategySignal(ctx.prob_up, False,
                                  f"meta-score {ctx.meta_score:+.3f} does not confirm")
        return StrategySignal(ctx.prob_up, True, "entries allowed")


class OrderBookEnhancedStrategy(MLEnhancedStrategy):
    name: ClassVar[str] = "orderbook_enhanced"

    def __init__(self, params: OrderBookParams | None = None) -> None:
        super().__init__(params or OrderBookParams())
        self.book_params: OrderBookParams = params or OrderBookParams()

    def signal(self, ctx: BarContext) -> StrategySignal:
        base = super().signal(ctx)
        if not base.allow_entry:
            return base
        if ctx.book is None:
            return StrategySignal(ctx.prob_up, False, "no order book snapshot")
        p = self.book_params
        side = 1 if ctx.prob_up >= 0.5 else -1
        imbalance = calculate_imbalance(ctx.book, p.depth)
        if side * imbalance < p.min_imbalance:
            return StrategySignal(ctx.prob_up, False,
                                  f"book imbalance {imbalance:+.3f} does not lean the same way")
        against = "ask" if side > 0 else "bid"
        walls = [w for w in detect_whale_walls(ctx.book, threshold=p.wall_strength)
                 if w.side == against]
        if walls:
            return StrategySignal(ctx.prob_up, False,
                                  f"{against} wall of {walls[0].strength:.1f}x at "
                                  f"{walls[0].price}")
        return StrategySignal(ctx.prob_up, True, f"book imbalance {imbalance:+.3f} agrees")


_PLUGINS: dict[str, tuple[type[MLEnhancedStrategy], type[MLEnhancedParams]]] = {
    "ml_enhanced": (MLEnhancedStrategy, MLEnhancedParams),
    "orderbook_enhanced": (OrderBookEnhancedStrategy, OrderBookParams),
}


def strategy_names() -> list[str]:
    return sorted(_PLUGINS)


def make_strategy(name: str, params: Mapping[str, Any] | None = None) -> Strategy:
    """The strategy registered under ``name``, with its parameters validated."""
    if name not in _PLUGINS:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(strategy_names())}")
    cls, model = _PLUGINS[name]
    return cls(model.model_validate(dict(params or {})))
