"""One bar's decision: the single path the backtester and the trader both take.

:func:`decide` turns what is known at a bar's close (price, calibrated P(up), recent
volatility, whether entries are allowed) and the book (the weight held after the market's
move, equity, the rules' memory) into a target weight and the order that reaches it. The
stepwise backtester (:mod:`alphaloop.trading.stepwise`) and the trader call it bar by bar;
the vectorised engine (:func:`alphaloop.backtest.run_backtest`) is a fast path proven equal
to it when no path-dependent rule is on.

Order and cost rule (the engine's, see :mod:`alphaloop.backtest.engine`): an order is placed
only when the target changes; with ``d`` the weight held before the order, ``w`` the target and
``c`` the cost rate, the traded notional as a fraction of pre-order equity is
``|w - d| / (1 + c sign(w - d) w)`` so that after paying its cost the position is exactly ``w``
of the remaining equity; the cost is ``c`` times that notional.

Order of the rules at a bar: the kill switch (a new UTC day re-arms it), then stops on the
held position, then the side (cost-aware edge rule or the ``backtest:`` thresholds, a blocked
side and a closed entry gate removing entries but never forcing an exit), then sizing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date

import pandas as pd

from alphaloop.signals import decide_direction
from alphaloop.trading.rules import DecisionRules, edge, size

MIN_TURNOVER = 1e-12  # the engine's: float noise of a drift-free holding is not an order


@dataclass(frozen=True)
class BarInput:
    """What is known at one bar's close.

    Attributes:
        time: The bar's close time (UTC); its date drives the daily kill switch.
        close: The close price.
        prob_up: Calibrated P(up) for the label horizon; NaN means no signal.
        vol: Per-bar volatility (std of recent one-bar log returns); NaN when unknown.
        allow_entry: False closes the entry gate (the sentiment/regime gate): no new
            position; an open one follows the signal out and is still managed by its stops.
        degraded: No usable signal because a service failed (serving unreachable, model
            past its expiry): HOLD. No entry, the open position is kept as it is, stops and
            the kill switch still act. (A NaN ``prob_up`` without ``degraded`` is a bar
            with no signal and goes flat, as in the backtest.)
    """

    time: pd.Timestamp
    close: float
    prob_up: float
    vol: float = math.nan
    allow_entry: bool = True
    degraded: bool = False
    day: date | None = None  # the bar's UTC day, when the caller has it (the backtester)


@dataclass(frozen=True)
class RiskState:
    """What the rules remember between bars (persisted by the trader with each decision)."""

    target: float = 0.0  # the last target weight ordered
    entry_price: float | None = None  # price of the order that opened the current side
    blocked: int = 0  # side a stop closed: no entry that way until the signal leaves it
    day: date | None = None
    day_start_equity: float | None = None
    killed: bool = False  # max_daily_loss reached: flat, no entries until the next UTC day


@dataclass(frozen=True)
class Decision:
    """A bar's decision: the target, the order reaching it and why."""

    target: float
    turnover: float  # traded notional as a fraction of pre-order equity (0: no order)
    cost: float  # fraction of pre-order equity paid
    reason: str
    edge: float  # expected return of the chosen side per unit of notional (NaN if none)
    state: RiskState

    @property
    def side(self) -> int:
        return int(math.copysign(1, self.target)) if self.target != 0.0 else 0


def turnover_for(held: float, target: float, cost_rate: float) -> float:
    """Traded notional (fraction of pre-order equity) to move from ``held`` to ``target``."""
    delta = target - held
    traded = abs(delta) / (1.0 + cost_rate * math.copysign(1.0, delta) * target) \
        if delta != 0.0 else 0.0
    return traded if traded >= MIN_TURNOVER else 0.0


def decide(bar: BarInput, held: float, equity: float, state: RiskState,
           rules: DecisionRules) -> Decision:
    """The target weight and order for one bar (see the module docstring).

    Args:
        bar: What is known at the close.
        held: Weight held just before this bar's order (after the market's move).
        equity: Equity before this bar's order.
        state: The rules' memory from the previous bar.
        rules: Signal, cost and risk rules, and the entry pair in force.
    """
    state = _new_day(state, bar, equity)
    current = int(math.copysign(1, state.target)) if state.target != 0.0 else 0
    side, reason, state = _choose_side(bar, current, equity, state, rules)
    if side == 0:
        target = 0.0
    elif side == current and reason.startswith("hold"):
        target = state.target  # a held position is not resized bar by bar
    else:
        target = side * size(bar.prob_up, side, bar.vol, rules)
    entry = bar.close if target != 0.0 and side != current else \
        None if target == 0.0 else state.entry_price
    traded = turnover_for(held, target, rules.cost_rate) if target != state.target else 0.0
    chosen_edge = edge(bar.prob_up, side, bar.vol, rules.horizon) if side else math.nan
    if target != state.target or entry != state.entry_price:
        state = replace(state, target=target, entry_price=entry)
    return Decision(target=target, turnover=traded, cost=traded * rules.cost_rate,
                    reason=reason, edge=chosen_edge, state=state)


def utc_day(time: pd.Timestamp) -> date:
    """The UTC calendar day of a bar (naive times are taken as UTC)."""
    stamp = pd.Timestamp(time)
    return (stamp.tz_convert("UTC") if stamp.tzinfo else stamp).date()


def _new_day(state: RiskState, bar: BarInput, equity: float) -> RiskState:
    today = bar.day if bar.day is not None else utc_day(bar.time)
    if state.day == today:
        return state
    return replace(state, day=today, day_start_equity=equity, killed=False)


def _choose_side(bar: BarInput, current: int, equity: float, state: RiskState,
                 rules: DecisionRules) -> tuple[int, str, RiskState]:
    forced = _forced_exit(bar, current, equity, state, rules)
    if forced is not None:
        return forced
    if bar.degraded:
        return current, "hold (degraded: no usable signal)", state
    wanted, why = _signal_side(bar, current, rules)
    if state.blocked and wanted != state.blocked:
        state = replace(state, blocked=0)  # the signal left the stopped side: re-armed
    if wanted != 0 and wanted != current:
        if state.blocked == wanted:
            return 0, "blocked after a stop", state
        if not bar.allow_entry:
            return 0, "entry gate closed", state
    return wanted, why, state


def _forced_exit(bar: BarInput, current: int, equity: float, state: RiskState,
                 rules: DecisionRules) -> tuple[int, str, RiskState] | None:
    """The kill switch and the stops, which close the position whatever the signal says."""
    risk = rules.risk
    if state.killed:
        return 0, "kill switch (rest of the UTC day)", state
    if (risk.max_daily_loss is not None and state.day_start_equity
            and equity <= state.day_start_equity * (1.0 - risk.max_daily_loss)):
        return 0, f"kill switch: daily loss over {risk.max_daily_loss:.2%}", \
            replace(state, killed=True)
    if current and state.entry_price:
        move = current * (bar.close / state.entry_price - 1.0)
        if risk.stop_loss is not None and move <= -risk.stop_loss:
            return 0, f"stop-loss {risk.stop_loss:.2%}", replace(state, blocked=current)
        if risk.take_profit is not None and move >= risk.take_profit:
            return 0, f"take-profit {risk.take_profit:.2%}", replace(state, blocked=current)
    return None


def _signal_side(bar: BarInput, current: int, rules: DecisionRules) -> tuple[int, str]:
    """The side the signal asks for: the cost-aware edge rule or the probability thresholds."""
    if not math.isfinite(bar.prob_up):
        return 0, "no signal"
    if not rules.risk.cost_aware:
        # Sized afresh every bar, as the vectorised engine does.
        return int(decide_direction(bar.prob_up, rules.signal)), "signal"
    if math.isinf(rules.edge_multiple):
        return 0, "no trade (no edge after costs on the training data)"
    hurdle = rules.edge_multiple * 2.0 * rules.cost_rate
    if current:
        held_edge = edge(bar.prob_up, current, bar.vol, rules.horizon)
        if held_edge > rules.hold_fraction * hurdle:
            return current, "hold"
    sides = (1, -1) if rules.signal.allow_short else (1,)
    for side in sides:
        if edge(bar.prob_up, side, bar.vol, rules.horizon) > hurdle:
            return side, "edge over costs"
    return 0, "edge below costs"
