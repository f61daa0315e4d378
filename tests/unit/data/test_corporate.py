"""Splits and bad ticks: detected from the series' own volatility, then fail, flag or adjust."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alphaloop.config import ValidateParams
from alphaloop.data.corporate import find_jumps, split_like
from alphaloop.data.validation import DataValidationError, validate_bars
from tests.conftest import make_raw_bars

SPLIT_2_1, SPLIT_3_1 = 300, 600
PARAMS = ValidateParams(min_rows=10, session="business_days")


def _unadjusted() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Daily bars with a 2:1 split at bar 300 and a 3:1 split at bar 600, and the truth."""
    truth = make_raw_bars(900, freq="1D", seed=3)
    truth = truth[truth["timestamp"].dt.dayofweek < 5].reset_index(drop=True)
    factor = np.ones(len(truth))
    factor[SPLIT_2_1:] /= 2.0
    factor[SPLIT_3_1:] /= 3.0
    raw = truth.copy()
    for column in ("open", "high", "low", "close"):
        raw[column] = truth[column] * factor
    raw["volume"] = truth["volume"] / factor
    return raw, truth


def test_split_ratios_are_recognised_and_ordinary_moves_are_not() -> None:
    assert split_like(2.0, 0.05) == "2:1" and split_like(2.9, 0.05) == "3:1"
    assert split_like(1.5, 0.05) == "3:2" and split_like(0.1, 0.05) == "1:10"
    assert split_like(1.2, 0.05) is None and split_like(2.3, 0.05) is None


def test_both_splits_are_found_as_split_like_jumps() -> None:
    raw, _ = _unadjusted()
    jumps = find_jumps(raw, z_limit=12.0, tolerance=0.05)
    assert [(j.row, j.split) for j in jumps] == [(SPLIT_2_1, "2:1"), (SPLIT_3_1, "3:1")]


def test_fail_policy_stops_naming_the_splits_and_the_settings() -> None:
    raw, _ = _unadjusted()
    with pytest.raises(DataValidationError, match=r"corporate_actions.*2 split-like.*2:1.*3:1"
                       r".*validate\.adjust_from.*jump_policy: adjust"):
        validate_bars(raw, PARAMS)


def test_flag_policy_keeps_the_prices_and_lists_both_jumps() -> None:
    raw, _ = _unadjusted()
    outcome = validate_bars(raw, PARAMS.model_copy(update={"jump_policy": "flag"}))
    assert outcome.report.flaws["split_like_moves"] == 2
    assert outcome.report.flaws["price_adjustments"] == 0
    assert [j["split"] for j in outcome.report.jumps] == ["2:1", "3:1"]
    assert np.allclose(outcome.bars["close"], raw["close"])


def test_adjust_policy_back_adjusts_prices_and_volume_and_reports_each() -> None:
    raw, truth = _unadjusted()
    outcome = validate_bars(raw, PARAMS.model_copy(update={"jump_policy": "adjust"}))
    factors = [a["factor"] for a in outcome.report.adjustments]
    assert factors == pytest.approx([0.5, 1 / 3])
    assert outcome.report.flaws["price_adjustments"] == 2
    # The newest prices stay as they are; everything before is on their basis.
    scale = truth["close"].iloc[-1] / outcome.bars["close"].iloc[-1]
    assert np.allclose(outcome.bars["close"] * scale, truth["close"])
    assert np.allclose(outcome.bars["volume"] / scale, truth["volume"])
    returns = np.log(outcome.bars["close"]).diff().abs()
    assert returns.max() < 0.05  # no -69% or -110% "returns" left


def test_adjusting_from_the_files_adjusted_close() -> None:
    raw, truth = _unadjusted()
    raw["adj_close"] = raw["close"].iloc[-1] / truth["close"].iloc[-1] * truth["close"]
    outcome = validate_bars(raw, PARAMS.model_copy(update={"adjust_from": "adj_close"}))
    assert [round(a["factor"], 6) for a in outcome.report.adjustments] == [0.5, 0.333333]
    assert outcome.report.flaws["split_like_moves"] == 0  # nothing left to detect
    assert np.allclose(outcome.bars["close"], raw["adj_close"])


def test_adjusting_from_a_splits_and_dividends_file() -> None:
    raw, truth = _unadjusted()
    stamps = raw["timestamp"]
    actions = pd.DataFrame({
        "date": [stamps[SPLIT_2_1].date().isoformat(), stamps[SPLIT_3_1].date().isoformat()],
        "split": ["2:1", "3"], "dividend": [None, None]})
    params = PARAMS.model_copy(update={"adjust_from": "actions", "actions_file": "a.csv"})
    outcome = validate_bars(raw, params, actions=actions)
    scale = truth["close"].iloc[-1] / outcome.bars["close"].iloc[-1]
    assert np.allclose(outcome.bars["close"] * scale, truth["close"])
    assert [a["reason"] for a in outcome.report.adjustments] == [
        "split 2:1 (actions file)", "split 3:1 (actions file)"]


def test_adj_close_policy_without_the_column_is_refused() -> None:
    raw, _ = _unadjusted()
    with pytest.raises(DataValidationError, match="adj_close.*column_map"):
        validate_bars(raw, PARAMS.model_copy(update={"adjust_from": "adj_close"}))
