"""build_features: shape, warm-up, carry-through, determinism and no look-ahead."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alphaloop.features import FeatureConfig, build_features, feature_plan, max_lookback, talib_set
from alphaloop.features.ops import COPY, Op
from alphaloop.features.plan import PlanBuilder
from alphaloop.features.talib_set import prepare_inputs

BarsFactory = Callable[..., pd.DataFrame]
BENCH = Path(__file__).resolve().parents[3] / "bench" / "features.py"
INPUT_COLUMNS = [
    "timestamp",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "symbol",
    "timeframe",
    "zero_volume",
]


def _perturb_after(bars: pd.DataFrame, k: int, seed: int = 99) -> pd.DataFrame:
    """Rewrite every bar after row ``k``: new prices, new (sometimes zero) volumes."""
    rng = np.random.default_rng(seed)
    out = bars.copy()
    m = len(bars) - k - 1
    factor = rng.uniform(0.8, 1.25, m)
    for col in ("open", "high", "low", "close"):
        out.loc[k + 1 :, col] = bars[col].to_numpy()[k + 1 :] * factor
    volume = rng.lognormal(3.0, 1.0, m)
    volume[rng.random(m) < 0.3] = 0.0
    out.loc[k + 1 :, "volume"] = volume
    return out


def test_default_config_yields_many_float_features(bars: pd.DataFrame) -> None:
    result = build_features(bars)
    names = result.feature_columns
    assert 230 <= len(names) <= 280
    assert len(set(names)) == len(names)
    assert list(result.frame.columns) == INPUT_COLUMNS + names
    assert (result.frame[names].dtypes == np.float64).all()
    for expected in ("rsi_14", "sma_ratio_50", "cdl_doji", "ht_dcperiod", "logret_lag_3"):
        assert expected in names


def test_no_nan_or_inf_after_warmup(bars: pd.DataFrame) -> None:
    result = build_features(bars)
    values = result.frame[result.feature_columns].to_numpy()
    assert np.isfinite(values).all()


def test_warmup_count_matches_rows_dropped_and_lookback(bars: pd.DataFrame) -> None:
    result = build_features(bars)
    assert result.warmup_rows_dropped == len(bars) - len(result.frame)
    assert result.warmup_rows_dropped == max_lookback()
    first = result.frame["timestamp"].iloc[0]
    assert first == bars["timestamp"].iloc[result.warmup_rows_dropped]


def test_carry_through_columns_unchanged(bars: pd.DataFrame) -> None:
    result = build_features(bars)
    w = result.warmup_rows_dropped
    expected = bars.iloc[w:].reset_index(drop=True)
    pd.testing.assert_frame_equal(result.frame[INPUT_COLUMNS], expected, check_exact=True)
    assert len(bars.columns) == len(INPUT_COLUMNS)  # input not mutated


def test_deterministic(bars: pd.DataFrame) -> None:
    first = build_features(bars)
    second = build_features(bars.copy())
    pd.testing.assert_frame_equal(first.frame, second.frame, check_exact=True)


@pytest.mark.parametrize("k", [620, 1000, 1400])
def test_no_lookahead(bars: pd.DataFrame, k: int) -> None:
    base = build_features(bars)
    changed = build_features(_perturb_after(bars, k))
    cutoff = bars["timestamp"].iloc[k]
    past = base.frame["timestamp"] <= cutoff
    assert past.sum() == k + 1 - base.warmup_rows_dropped
    pd.testing.assert_frame_equal(
        base.frame[past], changed.frame[past.to_numpy()], check_exact=True
    )
    # The perturbation must be visible after k, or this test could never fail.
    future = ~past.to_numpy()
    diff = (
        base.frame.loc[future, base.feature_columns].to_numpy()
        != changed.frame.loc[future, base.feature_columns].to_numpy()
    )
    unchanged = [c for c, d in zip(base.feature_columns, diff.any(axis=0), strict=True) if not d]
    assert all(c.startswith("cdl_") for c in unchanged), unchanged  # rare patterns only


def test_lookbacks_match_talib_nan_prefix(bars: pd.DataFrame) -> None:
    plan = feature_plan()
    series = prepare_inputs(bars, plan)
    for call in plan.calls:
        outputs = call.run(series)
        series.update(zip(call.outputs, outputs, strict=True))
        for name, out in zip(call.outputs, outputs, strict=True):
            if out.dtype == np.float64:
                first_valid = int(np.argmax(~np.isnan(out)))
                assert first_valid == plan.series_lookbacks[name], name


def test_scale_free_under_price_rescaling(bars: pd.DataFrame) -> None:
    scaled = bars.copy()
    for col in ("open", "high", "low", "close"):
        scaled[col] = bars[col] * 1024.0  # power of two: rescaling is exact in floats
    base, other = build_features(bars), build_features(scaled)
    # No price-level column: a model trained on one price range must transfer to another.
    cols = base.feature_columns
    np.testing.assert_allclose(
        other.frame[cols].to_numpy(), base.frame[cols].to_numpy(), rtol=1e-7, atol=1e-9
    )


def test_smaller_config_needs_fewer_rows(bars_factory: BarsFactory) -> None:
    config = FeatureConfig(
        rsi_periods=[14],
        ma_periods=[10],
        momentum_periods=[14],
        volatility_periods=[10],
        volume_periods=[10],
        return_lags=[1, 2],
        candlestick_patterns=False,
        hilbert_cycles=False,
        price_transforms=False,
        oscillators=False,
    )
    lookback = max_lookback(config)
    assert lookback < 50
    result = build_features(bars_factory(n=lookback + 1), config)
    assert len(result.frame) == 1
    assert result.warmup_rows_dropped == lookback
    assert not any(c.startswith(("cdl_", "ht_", "macd")) for c in result.feature_columns)


def test_threaded_prefault_gives_identical_result(
    bars: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = build_features(bars)
    monkeypatch.setattr(talib_set, "PREFAULT_MIN_BYTES", 0)
    threaded = build_features(bars)
    pd.testing.assert_frame_equal(plain.frame, threaded.frame, check_exact=True)


def test_missing_columns_raise(bars: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"missing required columns \['high', 'volume'\]"):
        build_features(bars.drop(columns=["high", "volume"]))


def test_too_few_rows_says_how_many_are_needed_and_names_the_key(bars: pd.DataFrame) -> None:
    needed = max_lookback() + 1
    with pytest.raises(ValueError, match=f"got {needed - 1} rows, need at least {needed}: "
                       r"tema_ratio_200 looks back 597 bars \(features.ma_periods\)"):
        build_features(bars.iloc[: needed - 1])


def test_features_restart_after_each_gap_and_skip_short_segments(bars: pd.DataFrame) -> None:
    lookback = max_lookback()
    whole = build_features(bars).frame
    # Segments as validation numbers them: 0 (700 bars), 1 (100 bars), 2 (the rest).
    marked = bars.assign(segment=np.repeat([0, 1, 2], [700, 100, len(bars) - 800]))
    result = build_features(marked)
    assert result.segments_used == 2 and result.segments_skipped == 1
    assert list(result.frame["segment"].unique()) == [0, 2]
    assert (result.frame["segment"] == 2).sum() == len(bars) - 800 - lookback
    assert result.warmup_rows_dropped == len(bars) - len(result.frame)
    # Segment 2 restarts: its first feature row is bar 800 + lookback, computed from bars
    # >= 800 only, so it differs from the uninterrupted computation at the same bar.
    first = result.frame[result.frame["segment"] == 2].iloc[0]
    assert first["timestamp"] == bars["timestamp"].iloc[800 + lookback]
    same_bar = whole[whole["timestamp"] == first["timestamp"]].iloc[0]
    assert first["ema_ratio_200"] != same_bar["ema_ratio_200"]
    alone = build_features(bars.iloc[800:].reset_index(drop=True)).frame.iloc[0]
    assert first["ema_ratio_200"] == alone["ema_ratio_200"]


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("close", np.nan, "'close' has NaN/inf"),
        ("low", 0.0, "'low' must be strictly positive"),
        ("volume", -1.0, "'volume' must be non-negative"),
    ],
)
def test_invalid_values_raise(bars: pd.DataFrame, column: str, value: float, message: str) -> None:
    broken = bars.copy()
    broken.loc[700, column] = value
    with pytest.raises(ValueError, match=message):
        build_features(broken)


def test_unsorted_timestamps_raise(bars: pd.DataFrame) -> None:
    shuffled = bars.iloc[::-1].reset_index(drop=True)
    with pytest.raises(ValueError, match="sorted ascending"):
        build_features(shuffled)


def test_feature_name_clash_raises(bars: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="rsi_14"):
        build_features(bars.assign(rsi_14=0.0))


def test_interior_nan_names_the_column(bars: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    def hole(out: np.ndarray, a: np.ndarray) -> None:
        out[:] = a
        out[1200] = np.nan

    builder = PlanBuilder()
    builder.add("rsi_14", COPY, builder.ta1("RSI", "close", timeperiod=14))
    builder.add("holey", Op("hole", hole), "close")
    monkeypatch.setattr(talib_set, "feature_plan", lambda config=None: builder.build())
    with pytest.raises(ValueError, match=r"feature 'holey' has 1 NaN/inf .* row 1200"):
        build_features(bars)


def test_benchmark_script_updates_only_its_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("bench_features", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmarks\n\n## Features\n\nstale\n\n## Training\n\nkeep me\n")
    argv = ["features.py", "--rows", "2000", "--repeats", "1", "--results", str(results)]
    monkeypatch.setattr("sys.argv", argv)
    assert bench.main() in (0, 1)  # the ratio target is for 1M rows, not 2000
    text = results.read_text()
    assert "stale" not in text and "keep me" in text
    assert text.count("## Features") == 1
    assert "| 2,000 |" in text
