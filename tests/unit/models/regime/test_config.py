"""RegimeParams: defaults, validation, immutability."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alphaloop.models.regime import PATCHTST, RegimeParams


def test_defaults() -> None:
    params = RegimeParams()
    assert params.model_name == PATCHTST
    assert (params.context_length, params.horizon, params.test_fraction) == (96, 4, 0.2)
    assert params.bear_threshold < 0 < params.bull_threshold
    assert params.gap == params.context_length + params.horizon


@pytest.mark.parametrize("overrides", [
    {"unknown_key": 1},
    {"horizon": 0},
    {"context_length": 1},
    {"test_fraction": 1.0},
    {"high_vol_quantile": 0.0},
    {"learning_rate": 0.0},
    {"patch_length": 128},
    {"d_model": 30, "num_heads": 4},
    {"bull_threshold": -0.001},
    {"bear_threshold": 0.001},
    {"model_name": "  "},
])
def test_invalid_values_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RegimeParams.model_validate(overrides)


def test_frozen() -> None:
    with pytest.raises(ValidationError):
        RegimeParams().horizon = 8  # type: ignore[misc]
