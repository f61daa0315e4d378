"""The ``trader:`` section of ``params.yaml``: what the trading service trades and how.

The strategy's own parameters are checked by ``alphaloop trade`` at start-up (against the
plugin's model), so this module stays free of the strategies' imports and the DVC stages,
which load all of ``params.yaml``, do not depend on them.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alphaloop.execution.config import ExecutionParams

META_KEYS = ("micro", "tech", "sentiment", "regime")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StrategyChoice(_Section):
    """A strategy plugin by name, with its parameters (see ``alphaloop.trading.strategies``)."""

    name: str = "ml_enhanced"  # ml_enhanced | orderbook_enhanced
    params: dict[str, Any] = Field(default_factory=dict)


class EntryRule(_Section):
    """The cost-aware entry pair the trader uses (``risk.cost_aware``); ``edge_multiple:
    null`` is "do not trade". The evaluate stage reports the walk-forward's latest choice
    (``reports/backtest_metrics.json``, ``strategy_cost_aware.latest_choice``)."""

    edge_multiple: float | None = Field(default=2.0, gt=0)
    hold_fraction: float = Field(default=0.5, ge=0, le=1)

    @property
    def multiple(self) -> float:
        return math.inf if self.edge_multiple is None else self.edge_multiple


class ServingCalls(_Section):
    timeout_s: float = Field(default=2.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)
    breaker_threshold: int = Field(default=3, ge=1)
    breaker_ttl_s: float = Field(default=10.0, gt=0)


class CacheTTL(_Section):
    features: float = Field(default=86_400.0, gt=0)
    prediction: float = Field(default=86_400.0, gt=0)
    orderbook: float = Field(default=30.0, gt=0)
    retry_s: float = Field(default=30.0, gt=0)


class Replay(_Section):
    """Paper trading on stored bars: the newest ``bars`` of ``ingest.source`` (after the
    feature window it needs as history), at ``speed`` bars per second (0: as fast as the
    decisions go)."""

    bars: int = Field(default=500, ge=1)
    speed: float = Field(default=0.0, ge=0)


class TraderParams(_Section):
    """The ``trader:`` section (``alphaloop trade``)."""

    mode: Literal["paper", "live"] = "paper"
    exchange: str = "binance"  # live: a ccxt exchange id (symbols are the exchange's, BTC/USDT)
    poll_s: float = Field(default=10.0, gt=0)  # live: seconds between polls for closed bars
    symbols: list[str] = Field(default_factory=lambda: ["BTC-USD"], min_length=1)
    timeframe: str = "15m"
    strategy: StrategyChoice = Field(default_factory=StrategyChoice)
    meta_weights: dict[str, float] = Field(default_factory=lambda: {
        "micro": 0.3, "tech": 0.2, "sentiment": 0.3, "regime": 0.2})
    entry_rule: EntryRule = Field(default_factory=EntryRule)
    feature_window: int = Field(default=3000, ge=2)
    model_max_age_days: float = Field(default=7.0, gt=0)
    regime: bool = True  # ask /regime every bar (its label feeds the gate and the meta-score)
    headlines: str | None = None  # CSV with timestamp,text: /sentiment on the last day's news
    starting_cash: float = Field(default=10_000.0, gt=0)
    serving: ServingCalls = Field(default_factory=ServingCalls)
    cache: CacheTTL = Field(default_factory=CacheTTL)
    replay: Replay = Field(default_factory=Replay)
    execution: ExecutionParams = Field(default_factory=ExecutionParams)

    @field_validator("meta_weights")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        if set(value) - set(META_KEYS) or any(not w >= 0 for w in value.values()):
            raise ValueError(f"weights must be non-negative and keyed by {', '.join(META_KEYS)}")
        return value
