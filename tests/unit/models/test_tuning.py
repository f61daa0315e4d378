"""Nested tuning: each outer purged fold is tuned without its test rows and judged on them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from alphaloop import progress
from alphaloop.cv import PurgedKFold
from alphaloop.models import tuning
from alphaloop.models.fitting import training_arrays
from tests.unit.models.conftest import fast_config, make_labelled


def test_no_trial_sees_its_outer_test_fold(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = make_labelled(n=600, seed=3)
    config = fast_config(members={"lightgbm": {"n_estimators": 15, "n_jobs": 1}},
                         n_splits=3, calibration="none")
    searched: list[set[pd.Timestamp]] = []  # the rows each search was given
    real_tune = tuning.tune

    def spy(cfg: Any, df: pd.DataFrame, n_trials: int, timeout: Any = None) -> Any:
        searched.append(set(df["timestamp"]))
        return real_tune(cfg, df, n_trials, timeout)

    monkeypatch.setattr(tuning, "tune", spy)
    reports: list[tuple[str, int, int]] = []
    with progress.listening(lambda task, done, total: reports.append((task, done, total))):
        result = tuning.nested_tune(config, frame, n_trials=2)

    _, _, t1 = training_arrays(frame, [c for c in frame.columns if c.startswith("f")])
    outer = list(PurgedKFold(3, t1, config.embargo).split(np.zeros(len(frame))))
    assert len(searched) == 3 + 1  # one search per outer fold, then one on every row
    for (train, test), rows in zip(outer, searched, strict=False):
        stamps = frame["timestamp"]
        assert rows == set(stamps.iloc[train])  # the outer training part, purged
        assert not rows & set(stamps.iloc[test])  # never a row of the outer test fold
    assert searched[-1] == set(frame["timestamp"])
    assert [f.test_rows for f in result.folds] == [len(test) for _, test in outer]
    # Pooled over every outer test row, both scores are real log losses.
    for score in (result.tuned_log_loss, result.default_log_loss):
        assert 0.3 < score < 1.0
    assert set(result.members) == {"lightgbm"} and result.members["lightgbm"]["n_estimators"] == 15
    assert ("tuning: outer folds", 3, 3) in reports and ("tuning trials", 2, 2) in reports
