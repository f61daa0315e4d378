"""One bar's decision: stops, kill switch, gates, the cost-aware edge rule and sizing."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from alphaloop.signals import BacktestParams
from alphaloop.trading.decision import BarInput, RiskState, decide, turnover_for
from alphaloop.trading.rules import NO_TRADE, DecisionRules, RiskParams, edge, expected_move, size

DAY = pd.Timestamp("2024-03-01 10:00", tz="UTC")
PLAIN = DecisionRules(BacktestParams(), RiskParams(cost_aware=False), horizon=4)


def bar(p: float, close: float = 100.0, time: pd.Timestamp = DAY, vol: float = 0.01,
        **kw: bool) -> BarInput:
    return BarInput(time, close, p, vol, **kw)


def rules(**risk: object) -> DecisionRules:
    return DecisionRules(BacktestParams(), RiskParams(**{"cost_aware": False, **risk}),
                         horizon=4)


def test_after_an_order_the_position_is_exactly_the_target_of_post_cost_equity() -> None:
    c = 0.0015
    for held, target in ((0.0, 1.0), (1.0, -1.0), (0.3, 0.7), (-0.5, 0.0)):
        t = turnover_for(held, target, c)
        sign = math.copysign(1.0, target - held)
        assert held + sign * t == pytest.approx(target * (1 - c * t), abs=1e-15)
    assert turnover_for(0.5, 0.5, c) == 0.0


def test_stop_loss_closes_and_blocks_that_side_until_the_signal_leaves_it() -> None:
    r = rules(stop_loss=0.02)
    entered = decide(bar(0.6, 100.0), 0.0, 1.0, RiskState(), r)
    assert entered.target == 1.0 and entered.state.entry_price == 100.0
    still = decide(bar(0.6, 98.5), 1.0, 0.985, entered.state, r)
    assert still.target == 1.0 and still.turnover == 0.0  # a 1.5% loss is inside the stop
    stopped = decide(bar(0.6, 97.9), 1.0, 0.979, still.state, r)
    assert stopped.target == 0.0 and stopped.reason.startswith("stop-loss")
    blocked = decide(bar(0.7, 97.0), 0.0, 0.979, stopped.state, r)
    assert blocked.target == 0.0 and blocked.reason == "blocked after a stop"
    flat_signal = decide(bar(0.5, 97.0), 0.0, 0.979, blocked.state, r)
    assert flat_signal.state.blocked == 0  # the signal left the long side: re-armed
    again = decide(bar(0.7, 97.0), 0.0, 0.979, flat_signal.state, r)
    assert again.target == 1.0 and again.state.entry_price == 97.0


def test_take_profit_on_a_short() -> None:
    r = rules(take_profit=0.03)
    short = decide(bar(0.4, 100.0), 0.0, 1.0, RiskState(), r)
    assert short.target == -1.0
    kept = decide(bar(0.4, 98.0), -1.0, 1.02, short.state, r)
    assert kept.target == -1.0
    taken = decide(bar(0.4, 96.9), -1.0, 1.031, kept.state, r)
    assert taken.target == 0.0 and taken.reason.startswith("take-profit")


def test_kill_switch_flattens_for_the_rest_of_the_utc_day_then_rearms() -> None:
    r = rules(max_daily_loss=0.03)
    first = decide(bar(0.6, 100.0), 0.0, 1.0, RiskState(), r)
    assert first.state.day_start_equity == 1.0
    hit = decide(bar(0.6, 97.0, DAY + pd.Timedelta(hours=2)), 1.0, 0.969, first.state, r)
    assert hit.target == 0.0 and hit.reason.startswith("kill switch")
    later = decide(bar(0.9, 98.0, DAY + pd.Timedelta(hours=5)), 0.0, 0.969, hit.state, r)
    assert later.target == 0.0 and later.state.killed
    next_day = decide(bar(0.9, 98.0, DAY + pd.Timedelta(days=1)), 0.0, 0.969, later.state, r)
    assert next_day.target == 1.0 and not next_day.state.killed
    assert next_day.state.day_start_equity == 0.969


def test_closed_gate_blocks_entries_not_exits_and_degraded_holds() -> None:
    gated = decide(bar(0.7, allow_entry=False), 0.0, 1.0, RiskState(), PLAIN)
    assert gated.target == 0.0 and gated.reason == "entry gate closed"
    long = decide(bar(0.7), 0.0, 1.0, RiskState(), PLAIN)
    exit_ = decide(bar(0.5, allow_entry=False), 1.0, 1.0, long.state, PLAIN)
    assert exit_.target == 0.0  # the gate never keeps a position the signal left
    flip = decide(bar(0.3, allow_entry=False), 1.0, 1.0, long.state, PLAIN)
    assert flip.target == 0.0  # no new short, and the long is against the signal
    held = decide(bar(math.nan, degraded=True), 1.0, 1.0, long.state, PLAIN)
    assert held.target == 1.0 and held.turnover == 0.0 and "degraded" in held.reason
    nothing = decide(bar(math.nan), 1.0, 1.0, long.state, PLAIN)
    assert nothing.target == 0.0  # no signal and no failure: flat, as in the backtest


def test_degraded_still_obeys_the_stop() -> None:
    r = rules(stop_loss=0.02)
    long = decide(bar(0.7, 100.0), 0.0, 1.0, RiskState(), r)
    stopped = decide(bar(math.nan, 97.0, degraded=True), 1.0, 0.97, long.state, r)
    assert stopped.target == 0.0 and stopped.reason.startswith("stop-loss")


def test_cost_aware_entry_needs_edge_over_the_round_trip_and_holds_in_the_band() -> None:
    r = DecisionRules(BacktestParams(), RiskParams(), horizon=4, edge_multiple=1.0,
                      hold_fraction=0.5)
    hurdle = 2 * r.cost_rate  # 30 bps round trip
    vol = 0.02  # E|r_4| = 0.798 * 0.02 * 2 = 3.19%
    p_enter = 0.5 + 0.5 * (hurdle / expected_move(vol, 4)) + 0.01
    p_below = 0.5 + 0.5 * (hurdle / expected_move(vol, 4)) - 0.01
    assert decide(bar(p_below, vol=vol), 0.0, 1.0, RiskState(), r).target == 0.0
    entered = decide(bar(p_enter, vol=vol), 0.0, 1.0, RiskState(), r)
    assert entered.target == 1.0 and entered.edge > hurdle
    # Inside the band (edge above half the hurdle) the long is kept and not resized.
    p_band = 0.5 + 0.5 * (0.6 * hurdle / expected_move(vol, 4))
    kept = decide(bar(p_band, vol=vol), 1.0, 1.0, entered.state, r)
    assert kept.target == 1.0 and kept.turnover == 0.0 and kept.reason == "hold"
    p_out = 0.5 + 0.5 * (0.4 * hurdle / expected_move(vol, 4))
    assert decide(bar(p_out, vol=vol), 1.0, 1.0, kept.state, r).target == 0.0
    short = decide(bar(1 - p_enter, vol=vol), 0.0, 1.0, RiskState(), r)
    assert short.target == -1.0
    never = DecisionRules(BacktestParams(), RiskParams(), horizon=4, edge_multiple=NO_TRADE)
    assert decide(bar(0.99, vol=vol), 0.0, 1.0, RiskState(), never).target == 0.0


def test_fractional_kelly_size_is_net_edge_over_variance_capped() -> None:
    r = DecisionRules(BacktestParams(max_position=2.0), RiskParams(kelly_fraction=0.25),
                      horizon=4)
    vol = 0.01
    p = 0.6
    net = edge(p, 1, vol, 4) - 2 * r.cost_rate
    assert size(p, 1, vol, r) == pytest.approx(min(2.0, 0.25 * net / (vol * vol * 4)))
    assert size(0.52, 1, vol, r) == 0.0  # net edge below zero: no position
    assert size(0.99, 1, 0.004, r) == 2.0  # capped at max_position


def test_confidence_sizing_resizes_every_bar_without_the_cost_rule() -> None:
    r = DecisionRules(BacktestParams(sizing="confidence"), RiskParams(cost_aware=False),
                      horizon=4)
    first = decide(bar(0.7), 0.0, 1.0, RiskState(), r)
    second = decide(bar(0.8), first.target, 1.0, first.state, r)
    assert first.target == pytest.approx(0.4) and second.target == pytest.approx(0.6)
    assert second.turnover > 0
