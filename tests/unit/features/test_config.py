"""FeatureConfig defaults and validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from alphaloop.features import FeatureConfig, feature_plan

PARAMS = Path(__file__).resolve().parents[3] / "params.yaml"


def test_defaults_are_sensible() -> None:
    config = FeatureConfig()
    assert config.rsi_periods == [7, 14, 21, 28]
    assert config.ma_periods == [5, 10, 20, 50, 100, 200]
    assert config.candlestick_patterns and config.hilbert_cycles and config.price_transforms
    assert config.importance_horizon == 1
    assert len(feature_plan(config).features) >= 200


def test_params_yaml_features_section_validates() -> None:
    if not PARAMS.exists():
        pytest.skip("params.yaml not present")
    section = yaml.safe_load(PARAMS.read_text()).get("features")
    if section is None:
        pytest.skip("params.yaml has no features section")
    FeatureConfig.model_validate(section)


def test_unknown_key_rejected() -> None:
    with pytest.raises(ValidationError, match="rsi_period"):
        FeatureConfig.model_validate({"rsi_period": [14]})


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rsi_periods", [0, 14], "greater than or equal to 2"),
        ("ma_periods", [-5], "greater than or equal to 2"),
        ("momentum_periods", [], "at least 1 item"),
        ("volume_periods", [10, 20, 10], r"duplicate periods \[10\]"),
        ("return_lags", [0], "greater than or equal to 1"),
        ("volatility_periods", [10, 1_000_000], "less than or equal to 100000"),
        ("importance_horizon", 0, "greater than or equal to 1"),
        ("candlestick_patterns", "maybe", "valid boolean"),
    ],
)
def test_bad_values_give_clear_errors(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        FeatureConfig.model_validate({field: value})
    assert field in str(info.value)


def test_validation_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        FeatureConfig(rsi_periods=[1])
