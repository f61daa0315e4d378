"""The GX suite plus cleaning rules on small frames (real Great Expectations, in memory)."""

import numpy as np
import pandas as pd
import pytest

from alphaloop.config import ValidateParams
from alphaloop.data.validation import DataValidationError, validate_bars
from tests.conftest import make_raw_bars

PARAMS = ValidateParams(min_rows=10)


def test_clean_bars_pass_unchanged() -> None:
    raw = make_raw_bars(200)
    outcome = validate_bars(raw, PARAMS)
    assert outcome.report.passed
    assert len(outcome.bars) == 200
    assert outcome.report.cleaning == []
    assert all(e["success"] for e in outcome.report.expectations
               if e["rule"] != "zero_volume")
    assert list(outcome.bars.columns[:6]) == ["timestamp", "open", "high", "low", "close",
                                              "volume"]


def test_missing_column_names_the_rule_and_column() -> None:
    raw = make_raw_bars(50).drop(columns=["volume"])
    with pytest.raises(DataValidationError, match=r"required_columns.*'volume'") as info:
        validate_bars(raw, PARAMS)
    assert info.value.column == "volume"


def test_non_numeric_prices_stop_with_counts() -> None:
    raw = make_raw_bars(50).astype({"close": object})
    raw.loc[:9, "close"] = "n/a"
    with pytest.raises(DataValidationError, match=r"parseable_values.*'close'.*10 of 50"):
        validate_bars(raw, PARAMS)


def test_a_few_unparseable_values_are_dropped_under_the_threshold() -> None:
    raw = make_raw_bars(200).astype({"close": object})
    raw.loc[5, "close"] = "n/a"
    outcome = validate_bars(raw, PARAMS.model_copy(update={"max_unparseable_share": 0.01,
                                                           "max_null_share": 0.01}))
    assert outcome.report.unparseable["close"] == 1
    assert len(outcome.bars) == 199


def test_mostly_inconsistent_high_low_stops_the_pipeline() -> None:
    raw = make_raw_bars(100)
    raw.loc[:79, "high"] = raw.loc[:79, "low"] - 1.0
    with pytest.raises(DataValidationError, match="high_ge_open_close") as info:
        validate_bars(raw, PARAMS)
    assert info.value.failing >= 80


def test_duplicates_offgrid_gaps_zero_volume_and_offsets_are_each_reported() -> None:
    raw = make_raw_bars(300)
    raw.loc[10:12, "volume"] = 0.0
    raw["utc_offset"] = pd.Series(["+01:00"] * 100 + ["+00:00"] * 200, dtype="string")
    partial = raw.iloc[[50]].assign(timestamp=raw.loc[50, "timestamp"] + pd.Timedelta("62s"))
    dup = raw.iloc[[70]]
    dirty = pd.concat([raw.drop(index=range(200, 205)), partial, dup], ignore_index=True)
    outcome = validate_bars(dirty, PARAMS)
    flaws = outcome.report.flaws
    assert flaws["duplicate_timestamps"] == 1
    assert flaws["off_grid_partial_bars"] == 1
    assert flaws["gaps"] == 1 and flaws["missing_bars_in_gaps"] == 5
    assert flaws["zero_volume_bars"] == 3
    assert flaws["utc_offsets_seen"] == 2
    assert outcome.report.utc_offsets == {"+00:00": 195, "+01:00": 102}
    assert outcome.bars["timestamp"].is_unique
    assert outcome.bars["timestamp"].is_monotonic_increasing
    assert outcome.bars["segment"].max() == 1


def test_too_few_rows_after_cleaning_stops() -> None:
    with pytest.raises(DataValidationError, match="min_rows"):
        validate_bars(make_raw_bars(20), ValidateParams(min_rows=100))


def test_data_docs_are_written(tmp_path) -> None:  # type: ignore[no-untyped-def]
    validate_bars(make_raw_bars(50), PARAMS, docs_dir=tmp_path / "docs")
    assert (tmp_path / "docs" / "index.html").exists()
    assert list((tmp_path / "docs" / "validations").rglob("*.html"))


def test_out_of_order_rows_above_the_share_stop_naming_the_key() -> None:
    raw = make_raw_bars(200)
    shuffled = raw.iloc[np.r_[0:50, 60:70, 50:60, 70:200]].reset_index(drop=True)
    outcome = validate_bars(shuffled, PARAMS.model_copy(update={"max_out_of_order_share": 0.01}))
    assert outcome.report.flaws["out_of_order_rows"] == 1  # 1 of 199 steps: under 1%
    scrambled = raw.sample(frac=1.0, random_state=0).reset_index(drop=True)
    with pytest.raises(DataValidationError, match=r"increasing_timestamps.*step back in time"
                       r".*validate\.max_out_of_order_share.*dayfirst"):
        validate_bars(scrambled, PARAMS)


def test_a_newest_first_file_is_reversed_and_reported() -> None:
    raw = make_raw_bars(200)
    outcome = validate_bars(raw.iloc[::-1].reset_index(drop=True), PARAMS)
    assert outcome.report.order.startswith("newest first")
    assert outcome.bars["timestamp"].is_monotonic_increasing and len(outcome.bars) == 200


def test_a_day_first_file_is_read_right_end_to_end(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from alphaloop.config import FileSource
    from alphaloop.data.sources import load_bars

    truth = make_raw_bars(600, freq="1D")
    path = tmp_path / "broker.csv"
    truth.assign(timestamp=truth["timestamp"].dt.strftime("%d/%m/%Y")).drop(
        columns=["utc_offset", "symbol", "timeframe"]).to_csv(path, index=False)
    outcome = validate_bars(load_bars(FileSource(path=str(path))), PARAMS)
    assert outcome.report.flaws["out_of_order_rows"] == 0
    assert (outcome.bars["timestamp"].to_numpy() == truth["timestamp"].to_numpy()).all()
