"""Walk-forward backtest: out-of-sample predictions only, per-window results, buy-and-hold."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from alphaloop.backtest import (
    WalkForwardResult,
    trade_walk_forward,
    walk_forward_backtest,
    walk_forward_predict,
)
from alphaloop.signals import BacktestParams, target_positions

HORIZON = 2


def _frame(n: int = 620, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Bars with autocorrelated returns, lagged-return features, a 2-bar direction label."""
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0, 0.004, n)
    ret = np.empty(n)
    ret[0] = shocks[0]
    for t in range(1, n):
        ret[t] = 0.3 * ret[t - 1] + shocks[t]
    close = 100 * np.exp(np.cumsum(ret))
    frame = pd.DataFrame({
        "timestamp": pd.date_range("2024-01-01", periods=n, freq="15min", tz="UTC"),
        "close": close,
    })
    log_ret = np.log(frame["close"]).diff()
    for lag in (1, 2, 3):
        frame[f"ret_{lag}"] = log_ret.shift(lag - 1).fillna(0.0)
    forward = frame["close"].shift(-HORIZON) / frame["close"] - 1
    labels = (forward > 0).astype(float).where(forward.notna())
    return frame, labels


FEATURES = ["ret_1", "ret_2", "ret_3"]


class SpyModel(ClassifierMixin, BaseEstimator):
    """Logistic regression that logs the rows it is fitted on and asked about."""

    log: ClassVar[list[tuple[str, int, np.ndarray]]] = []

    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> SpyModel:
        self.fit_id_ = len(self.log)  # a unique tag (ids of collected models are reused)
        self.log.append(("fit", self.fit_id_, X.index.to_numpy()))
        self.model_ = LogisticRegression(C=self.C).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        self.log.append(("predict", self.fit_id_, X.index.to_numpy()))
        return self.model_.predict_proba(X)


class PlainModel:
    """Not an sklearn estimator: always 70% up."""

    classes_ = np.array([0, 1])

    def fit(self, X: Any, y: Any) -> PlainModel:
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.tile([0.3, 0.7], (len(X), 1))


@pytest.fixture
def spy() -> type[SpyModel]:
    SpyModel.log.clear()
    return SpyModel


def _run(model: Any, frame: pd.DataFrame, labels: pd.Series, **kwargs: Any) -> WalkForwardResult:
    options: dict[str, Any] = {"feature_columns": FEATURES, "gap": HORIZON} | kwargs
    return walk_forward_backtest(model, frame, labels, 200, 50, **options)


def test_predictions_are_out_of_sample_only(spy: type[SpyModel]) -> None:
    frame, labels = _frame()
    result = _run(spy(), frame, labels)
    preds = result.predictions
    assert preds["row"].tolist() == list(range(200, len(frame)))  # each once, none in-sample
    assert preds.index[0] == frame["timestamp"].iloc[200]
    # Every prediction is after the last training row of its model plus the gap ...
    last_train = result.windows.set_index("window")["train_last_row"]
    assert (preds["row"].to_numpy() > last_train.loc[preds["window"]].to_numpy() + HORIZON).all()
    train_end = result.windows.set_index("window")["train_end"].loc[preds["window"]]
    assert (preds.index > pd.DatetimeIndex(train_end) + HORIZON * pd.Timedelta("15min")).all()
    # ... and the spy agrees: each fitted model only predicts rows beyond its training rows.
    fits = {key: rows for kind, key, rows in spy.log if kind == "fit"}
    predicts = [(key, rows) for kind, key, rows in spy.log if kind == "predict"]
    assert len(fits) == len(predicts) == len(result.windows)
    for key, rows in predicts:
        # The last training label ends at row max + HORIZON, before the first test row.
        assert rows.min() > fits[key].max() + HORIZON
        assert not set(rows) & set(fits[key])


def test_future_rows_do_not_change_earlier_windows() -> None:
    frame, labels = _frame()
    base = _run(LogisticRegression(), frame, labels)
    changed_frame, changed_labels = frame.copy(), labels.copy()
    changed_frame.loc[400:, FEATURES] = 0.5
    changed_frame.loc[400:, "close"] *= 1.2
    changed_labels.iloc[400 - HORIZON:] = 1 - changed_labels.iloc[400 - HORIZON:]
    moved = _run(LogisticRegression(), changed_frame, changed_labels)
    early = base.predictions["row"] < 400
    pd.testing.assert_series_equal(
        base.predictions.loc[early, "prob_up"], moved.predictions.loc[early, "prob_up"]
    )


def test_windows_and_stats() -> None:
    frame, labels = _frame()
    params = BacktestParams(allow_short=True)
    result = _run(LogisticRegression(), frame, labels, params=params)
    windows = result.windows
    assert len(windows) == math.ceil((len(frame) - 200) / 50)
    assert windows["n_test"].sum() == len(frame) - 200
    assert windows["n_test"].iloc[-1] == 20
    assert windows["test_first_row"].tolist() == list(range(200, len(frame), 50))
    assert windows["n_train"].tolist() == [s - HORIZON for s in windows["test_first_row"]]
    assert windows["accuracy"].between(0, 1).all()
    for column in ("window_start", "window_end", "sharpe", "total_return", "max_drawdown",
                   "trades", "buy_hold_return", "deflated_sharpe"):
        assert column in windows
    # Decision-attributed window returns compound to the out-of-sample total return.
    compounded = np.prod(1 + windows["total_return"]) - 1
    assert compounded == pytest.approx(result.backtest.stats["total_return"])
    assert result.averages == (windows["sharpe"].mean(), windows["max_drawdown"].mean())
    assert result.average_stats["sharpe"] == pytest.approx(windows["sharpe"].mean())
    # Positions are the shared decision rules applied to the predictions.
    expected = target_positions(result.predictions["prob_up"].to_numpy(), params)
    np.testing.assert_array_equal(result.predictions["position"], expected)
    np.testing.assert_array_equal(result.backtest.positions, expected)


def test_buy_and_hold_over_the_same_bars() -> None:
    frame, labels = _frame()
    result = _run(LogisticRegression(), frame, labels)
    bh = result.buy_and_hold
    assert bh.returns.index.equals(result.backtest.returns.index)
    assert bh.trades == 1
    c = (10 + 5) / 1e4
    expected = frame["close"].iloc[-1] / (frame["close"].iloc[200] * (1 + c)) - 1
    assert bh.stats["total_return"] == pytest.approx(expected)


def test_rolling_train_window_and_plain_models() -> None:
    frame, labels = _frame()
    result = _run(PlainModel(), frame, labels, train_window=100)
    assert (result.windows["n_train"] <= 100).all()
    assert (result.predictions["prob_up"] == 0.7).all()
    assert (result.predictions["position"] == 1.0).all()
    assert result.backtest.trades == 1


def test_datetime_index_and_close_by_timestamp() -> None:
    frame, labels = _frame()
    indexed = frame.set_index("timestamp")
    close = indexed.pop("close")
    a = _run(LogisticRegression(), frame, labels)
    b = _run(LogisticRegression(), indexed, labels.set_axis(indexed.index), close=close)
    pd.testing.assert_series_equal(a.backtest.returns, b.backtest.returns)


def test_invalid_inputs() -> None:
    frame, labels = _frame()
    with pytest.raises(ValueError, match="initial_window"):
        walk_forward_backtest(LogisticRegression(), frame, labels, 2, 50,
                              feature_columns=FEATURES, gap=2)
    with pytest.raises(ValueError, match="rows"):
        _run(LogisticRegression(), frame, labels.iloc[:-1])
    with pytest.raises(ValueError, match="feature_columns"):
        _run(LogisticRegression(), frame, labels, feature_columns=["nope"])
    with pytest.raises(ValueError, match="class"):
        _run(LogisticRegression(), frame, labels * 0)


def test_kept_predictions_re_trade_exactly_like_the_whole_walk_forward(tmp_path: Any) -> None:
    # The pipeline keeps the predictions in a file and re-trades them when only costs move:
    # through a parquet round trip the result is the same as retraining everything.
    frame, labels = _frame()
    windows, preds = walk_forward_predict(LogisticRegression(), frame, labels, 200, 50,
                                          feature_columns=FEATURES, gap=HORIZON)
    windows.to_parquet(tmp_path / "windows.parquet")
    preds.to_parquet(tmp_path / "preds.parquet")
    windows, preds = (pd.read_parquet(tmp_path / "windows.parquet"),
                      pd.read_parquet(tmp_path / "preds.parquet"))
    close = frame["close"].to_numpy()
    returns = []
    for fee in (10.0, 50.0):
        params = BacktestParams(costs="custom", fee_bps=fee, slippage_bps=5.0,
                                long_threshold=0.5, short_threshold=0.5)
        whole = _run(LogisticRegression(), frame, labels, params=params)
        kept = trade_walk_forward(windows, preds, close, params=params)
        pd.testing.assert_frame_equal(kept.windows, whole.windows)
        pd.testing.assert_frame_equal(kept.predictions, whole.predictions)
        assert kept.backtest.stats == whole.backtest.stats
        assert kept.buy_and_hold.stats == whole.buy_and_hold.stats
        assert kept.backtest.trades > 0
        returns.append(kept.backtest.stats["total_return"])
    assert returns[1] < returns[0]  # the same trades, dearer
