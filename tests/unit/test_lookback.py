"""Look-back-aware windows: the embargo and the walk-forward follow the features and the data."""

from __future__ import annotations

import pytest
from talib import abstract

from alphaloop.config import Params
from alphaloop.cv import CVParams, check_fold_layout, walk_forward_window
from alphaloop.features import FeatureConfig, feature_plan, max_lookback


def _talib_lookback(func: str, **params: int) -> int:
    fn = abstract.Function(func)  # type: ignore[attr-defined]
    fn.set_parameters(params)
    return int(fn.lookback)


def test_default_embargo_is_the_plans_longest_talib_lookback() -> None:
    plan = feature_plan()
    longest = max(call.lookback for call in plan.calls)
    # TA-Lib's own look-back functions: TEMA-200 needs 3 * (200 - 1) bars.
    assert _talib_lookback("TEMA", timeperiod=200) == 597 == longest
    assert Params().cv.embargo is None
    assert Params().embargo_bars == 597 == max_lookback()
    assert Params().predictor.embargo == 597
    assert plan.longest() == ("tema_ratio_200", 597, "features.ma_periods")


def test_embargo_follows_the_feature_config_and_an_explicit_value_wins() -> None:
    short = Params(features=FeatureConfig(ma_periods=[5, 10, 20]))
    assert short.embargo_bars == max(max_lookback(short.features),
                                     _talib_lookback("TEMA", timeperiod=20))
    assert Params(cv=CVParams(embargo=50)).embargo_bars == 50


def test_a_short_daily_history_fails_early_naming_the_keys() -> None:
    params = Params()
    with pytest.raises(ValueError, match=r"800 labelled training rows are too few for 5 purged "
                       r"folds with an embargo of 597 bars \(cv\.embargo is null: .*tema_ratio_200"
                       r".*features\.ma_periods\).*Lower cv\.embargo or cv\.n_splits"):
        check_fold_layout(800, 5, int(params.embargo_bars), 4, params.embargo_origin())
    check_fold_layout(2000, 5, 597, 4)  # enough rows: no error


def test_the_train_stage_refuses_a_short_daily_history_before_fitting() -> None:
    from alphaloop.features import build_features
    from alphaloop.stages.ensemble import train
    from tests.conftest import make_raw_bars

    features = build_features(make_raw_bars(1400, freq="1D")).frame  # 803 rows after warm-up
    with pytest.raises(ValueError, match=r"too few for 5 purged folds.*cv\.embargo.*"
                       r"features\.ma_periods"):
        train(Params(), features, None)


def test_walk_forward_window_defaults_to_what_the_data_allow() -> None:
    assert walk_forward_window(8000, None, 4) == 2000
    assert walk_forward_window(1547, None, 4) == 386
    with pytest.raises(ValueError, match=r"cv\.walk_forward_initial=2000 .*1,547 labelled rows"):
        walk_forward_window(1547, 2000, 4)


def test_too_short_for_the_features_names_the_features_key() -> None:
    from alphaloop.features import build_features
    from tests.conftest import make_raw_bars

    bars = make_raw_bars(500, freq="1D")
    with pytest.raises(ValueError, match=r"need at least 598.*features\.ma_periods"):
        build_features(bars)
    assert len(build_features(bars, FeatureConfig(ma_periods=[5, 10, 20, 50])).frame) > 0
