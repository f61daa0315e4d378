"""Decision rules from P(up) to target positions, shared by the backtest and the trader."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from alphaloop.signals import (
    BacktestParams,
    SignalParams,
    decide_direction,
    size_positions,
    target_positions,
)

PROBS = np.array([0.0, 0.3, 0.45, 0.46, 0.5, 0.54, 0.55, 0.8, 1.0, np.nan])


def test_thresholds_are_inclusive_and_nan_is_flat() -> None:
    direction = decide_direction(PROBS, SignalParams())
    assert direction.tolist() == [-1, -1, -1, 0, 0, 0, 1, 1, 1, 0]


def test_allow_short_false_turns_shorts_flat() -> None:
    direction = decide_direction(PROBS, SignalParams(allow_short=False))
    assert direction.tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 0]


def test_long_wins_when_thresholds_meet() -> None:
    params = SignalParams(long_threshold=0.5, short_threshold=0.5)
    assert decide_direction(np.array([0.49, 0.5, 0.51]), params).tolist() == [-1, 1, 1]


def test_fixed_sizing_is_direction_times_max_position() -> None:
    params = SignalParams(max_position=2.0)
    positions = target_positions(PROBS, params)
    assert positions.tolist() == [-2.0, -2.0, -2.0, 0, 0, 0, 2.0, 2.0, 2.0, 0]
    assert not np.signbit(positions[3])  # flat is +0.0, not -0.0


def test_confidence_sizing_scales_with_distance_from_a_coin_flip() -> None:
    params = SignalParams(sizing="confidence", max_position=2.0)
    positions = target_positions(PROBS, params)
    expected = [-2.0, -0.8, -0.2, 0, 0, 0, 0.2, 1.2, 2.0, 0]
    np.testing.assert_allclose(positions, expected, atol=1e-12)
    assert np.all(np.abs(positions) <= params.max_position)


def test_size_positions_uses_the_given_directions() -> None:
    params = SignalParams(sizing="confidence")
    sized = size_positions(np.array([1, -1, 0]), np.array([0.7, 0.7, 0.7]), params)
    np.testing.assert_allclose(sized, [0.4, -0.4, 0.0])
    with pytest.raises(ValueError, match="shape"):
        size_positions(np.array([1, 0]), np.array([0.7, 0.7, 0.7]), params)


def test_scalar_input_gives_a_scalar() -> None:
    params = SignalParams()
    assert decide_direction(0.6, params) == 1
    assert isinstance(decide_direction(0.6, params), int)
    assert target_positions(0.2, params) == -1.0
    assert isinstance(target_positions(0.5, params), float)
    assert target_positions(0.7, SignalParams(sizing="confidence")) == pytest.approx(0.4)


def test_scalar_and_vector_calls_agree() -> None:
    params = SignalParams(sizing="confidence")
    probs = np.random.default_rng(0).uniform(0, 1, 200)
    vector = target_positions(probs, params)
    assert [target_positions(float(p), params) for p in probs] == vector.tolist()


def test_series_input_keeps_its_index() -> None:
    index = pd.date_range("2024-01-01", periods=3, freq="15min", tz="UTC")
    out = target_positions(pd.Series([0.2, 0.5, 0.9], index=index), SignalParams())
    assert isinstance(out, pd.Series)
    assert out.index.equals(index)
    assert out.tolist() == [-1.0, 0.0, 1.0]


def test_probabilities_outside_unit_interval_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        target_positions(np.array([0.5, 1.2]), SignalParams())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"long_threshold": 0.4, "short_threshold": 0.6},
        {"long_threshold": 1.1},
        {"short_threshold": -0.1},
        {"max_position": 0.0},
        {"max_position": 6.0},
        {"sizing": "kelly"},
        {"unknown": 1},
    ],
)
def test_invalid_params_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SignalParams(**kwargs)  # type: ignore[arg-type]


def test_backtest_params_extend_the_signal_rules() -> None:
    params = BacktestParams(long_threshold=0.6, fee_bps=4.0)
    assert params.slippage_bps == 5.0
    assert params.signal == SignalParams(long_threshold=0.6)
    assert target_positions(0.58, params) == 0.0
    with pytest.raises(ValidationError):
        BacktestParams(fee_bps=-1.0)
    with pytest.raises(ValidationError):
        SignalParams(fee_bps=1.0)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        params.fee_bps = 1.0  # type: ignore[misc]


def test_cost_presets_set_both_figures_and_custom_takes_yours() -> None:
    assert (BacktestParams().costs, BacktestParams().fee_bps,
            BacktestParams().slippage_bps) == ("crypto", 10.0, 5.0)
    fx = BacktestParams(costs="fx")
    assert (fx.fee_bps, fx.slippage_bps) == (0.5, 1.0)
    assert fx.cost_description == "fx preset: 0.5 bps fee + 1 bps slippage"
    equity = BacktestParams(costs="equity")
    assert (equity.fee_bps, equity.slippage_bps) == (1.0, 2.0)
    own = BacktestParams(costs="custom", fee_bps=0.2, slippage_bps=0.3)
    assert own.cost_description == "custom costs: 0.2 bps fee + 0.3 bps slippage"
    assert BacktestParams(fee_bps=4.0).costs == "custom"  # figures alone are your own
    # A preset and a figure that contradicts it: refused rather than silently one of them.
    with pytest.raises(ValidationError, match="costs: custom"):
        BacktestParams(costs="fx", fee_bps=10.0)
    with pytest.raises(ValidationError, match="slippage_bps"):
        BacktestParams(costs="custom", fee_bps=1.0)
    # A dump validates back to the same parameters (retraining copies params this way).
    assert BacktestParams.model_validate(fx.model_dump()) == fx
