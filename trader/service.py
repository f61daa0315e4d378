"""The trading loop: bar → inputs → strategy → one decision path → executor → store.

For every bar of the feed, per symbol:

1. :class:`trader.inputs.MarketInputs` reads the features (online, Redis-cached), the served
   direction, regime and sentiment answers and the order book, and the meta-score;
2. the strategy plugin opens or closes the entry gate;
3. :func:`alphaloop.trading.decide` — the function the stepwise backtester calls — turns the
   bar, the book's weight and equity, and the rules' memory into a target weight and order;
4. the executor moves the position to the target quantity (``target * post-cost equity /
   close``, exactly the backtest engine's sizing), crash-safely;
5. the decision, with every input and the rules' memory, and an equity snapshot are stored.

Decision ids are ``<account>:<symbol>:<bar time>``: a restart decides the last stored bar
again with the memory stored before it, which reproduces the same decision and (through the
executor's deterministic client order ids) never a second order. The rules' memory is read
back from the store, so stops and the daily kill switch survive restarts.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Protocol

import numpy as np
import pandas as pd

from alphaloop.config import Params
from alphaloop.features.orderbook import OrderBookSnapshot
from alphaloop.trading.decision import BarInput, Decision, RiskState, decide, turnover_for
from alphaloop.trading.rules import DecisionRules, latest_vol
from alphaloop.trading.strategies import BarContext, Strategy
from trader.executor import Executor, OrderInFlight, TradingHalted
from trader.feeds import BarEvent
from trader.inputs import MarketInputs

log = logging.getLogger(__name__)


class BookSource(Protocol):
    async def book(self, symbol: str, time: pd.Timestamp) -> OrderBookSnapshot | None: ...


class PriceSink(Protocol):
    def set_price(self, symbol: str, price: float, time: Any) -> None: ...


@dataclass
class TradeReport:
    """What a run did (printed and written at the end of ``alphaloop trade``)."""

    bars: int = 0
    decisions: int = 0
    orders: int = 0
    holds: int = 0  # bars decided while degraded
    halted: str | None = None
    seconds: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)

    def count(self, reason: str) -> None:
        key = reason.split(":")[0].split(" (")[0]
        self.reasons[key] = self.reasons.get(key, 0) + 1


class Trader:
    """Runs the loop for the symbols of ``inputs`` through ``executor``."""

    def __init__(self, params: Params, executor: Executor, inputs: Mapping[str, MarketInputs],
                 strategy: Strategy, *, account: str, prices: PriceSink | None = None,
                 books: BookSource | None = None, models_poll_s: float = 30.0) -> None:
        self.params, self.executor, self.inputs = params, executor, dict(inputs)
        self.strategy, self.account = strategy, account
        self.prices_sink, self.books, self.models_poll_s = prices, books, models_poll_s
        entry = params.trader.entry_rule
        self.rules = DecisionRules(params.backtest, params.risk, params.target.horizon,
                                   entry.multiple, entry.hold_fraction)
        self.state: dict[str, RiskState] = {}
        self.prices: dict[str, float] = {}
        self.report = TradeReport()
        self._models_checked = -math.inf

    def resume_points(self) -> dict[str, pd.Timestamp]:
        """Per symbol, the bar before the last decided one (which is decided again)."""
        points: dict[str, pd.Timestamp] = {}
        for symbol in self.inputs:
            mine = [d for d in self.executor.store.decisions(symbol)
                    if d.decision_id.startswith(f"{self.account}:")]
            if len(mine) >= 2:
                points[symbol] = pd.Timestamp(mine[-2].bar_time)
                self.state[symbol] = _state(mine[-2].outputs.get("state", {}))
                self.prices[symbol] = float(mine[-2].inputs.get("close", math.nan))
            elif mine:
                points[symbol] = pd.Timestamp(mine[0].bar_time) - pd.Timedelta(microseconds=1)
        return points

    async def run(self, feed: AsyncIterable[BarEvent]) -> TradeReport:
        """Reconcile, then trade every bar of ``feed`` (stops early if the executor halts)."""
        started = time.perf_counter()
        await self.executor.start()
        async for event in feed:
            await self.on_bar(event)
            if self.report.halted:
                break
        self.report.seconds = time.perf_counter() - started
        return self.report

    async def on_bar(self, event: BarEvent) -> Decision:
        began = time.perf_counter()
        market = self.inputs[event.symbol]
        close = event.bar["close"]
        self.prices[event.symbol] = close
        if self.prices_sink is not None:
            self.prices_sink.set_price(event.symbol, close, event.time.to_pydatetime())
        await self._maybe_refresh_models()
        book = await self.books.book(event.symbol, event.time) if self.books else None
        inputs = await market.read(event, book)
        signal = self.strategy.signal(BarContext(inputs.prob_up, inputs.meta_score,
                                                 inputs.sentiment_score, inputs.regime_label,
                                                 book))
        vol = latest_vol(np.fromiter(market.closes, dtype=np.float64),
                         self.params.risk.vol_window)
        equity = self.executor.equity(self.prices)
        position = self.executor.position(event.symbol).quantity
        held = position * close / equity if equity else 0.0
        bar = BarInput(event.time, close, inputs.prob_up, vol, signal.allow_entry,
                       degraded=inputs.degraded is not None)
        decision = decide(bar, held, equity, self.state.get(event.symbol, RiskState()),
                          self.rules)
        decision = self._cap_exposure(event.symbol, decision, held)
        quantity = (decision.target * equity * (1.0 - decision.cost) / close
                    if decision.turnover > 0 else position)
        decision_id = f"{self.account}:{event.symbol}:{event.time.isoformat()}"
        self.executor.store.record_decision(
            decision_id, event.time.to_pydatetime(), event.symbol,
            inputs={**inputs.record(), "close": close, "vol": vol, "held": held,
                    "equity": equity, "position": position, "strategy": signal.note,
                    "allow_entry": signal.allow_entry},
            outputs={"target": decision.target, "turnover": decision.turnover,
                     "cost": decision.cost, "reason": decision.reason, "edge": decision.edge,
                     "quantity": quantity, "state": _state_dict(decision.state)})
        self.state[event.symbol] = decision.state
        await self._execute(event, quantity, position, close, decision_id)
        self.executor.record_equity(event.time.to_pydatetime(), self.prices)
        self._tally(decision, inputs.degraded, began)
        return decision

    async def _execute(self, event: BarEvent, quantity: float, position: float, close: float,
                       decision_id: str) -> None:
        try:
            fills = await self.executor.rebalance(event.symbol, quantity, close, decision_id,
                                                  event.time.to_pydatetime())
        except OrderInFlight as exc:
            log.warning("%s", exc)
            return
        except TradingHalted as exc:
            self.report.halted = str(exc)
            log.error("trading halted: %s", exc)
            return
        if fills or abs(quantity - position) > 0:
            self.report.orders += int(bool(fills))

    def _cap_exposure(self, symbol: str, decision: Decision, held: float) -> Decision:
        """Scale the target down so the book's gross exposure stays within the limit."""
        equity = self.executor.equity(self.prices)
        others = sum(abs(p.quantity * self.prices.get(s, 0.0)) / equity
                     for s, p in self.executor.positions().items() if s != symbol) \
            if equity else 0.0
        room = max(0.0, self.params.risk.max_exposure - others)
        if abs(decision.target) <= room:
            return decision
        target = math.copysign(room, decision.target)
        traded = turnover_for(held, target, self.rules.cost_rate)
        state = RiskState(**{**asdict(decision.state), "target": target})
        return Decision(target, traded, traded * self.rules.cost_rate,
                        f"{decision.reason} (capped by risk.max_exposure)", decision.edge, state)

    async def _maybe_refresh_models(self) -> None:
        now = time.monotonic()
        if now - self._models_checked < self.models_poll_s:
            return
        self._models_checked = now
        for market in self.inputs.values():
            try:
                await market.refresh_models()
            except Exception as exc:  # serving down: keep what we knew; the bar HOLDs if needed
                log.warning("serving /models unavailable (%s); keeping the last known models",
                            exc)
                return

    def _tally(self, decision: Decision, degraded: str | None, began: float) -> None:
        self.report.bars += 1
        self.report.decisions += 1
        self.report.holds += int(degraded is not None)
        self.report.count(decision.reason)
        self.report.latencies_ms.append((time.perf_counter() - began) * 1e3)
        if degraded:
            log.warning("HOLD: %s", degraded)


def _state_dict(state: RiskState) -> dict[str, Any]:
    out = asdict(state)
    out["day"] = state.day.isoformat() if state.day else None
    return out


def _state(data: Mapping[str, Any]) -> RiskState:
    if not data:
        return RiskState()
    values = dict(data)
    values["day"] = date.fromisoformat(values["day"]) if values.get("day") else None
    return RiskState(**values)
