"""The 24 h replay on the bundled BTC bars: as-of cycles, the gate, out-of-sample trading.

Three days with tiny models in a scratch folder; the registry is the replay's own sqlite one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alphaloop.config import Params
from alphaloop.retrain import replay as rp
from alphaloop.signals import target_positions
from alphaloop.stages import data

pytestmark = pytest.mark.integration

START, END = date(2021, 10, 25), date(2021, 10, 27)
WINDOW_DAYS = 20.0
TINY_MEMBERS = {
    "lightgbm": {"n_estimators": 20, "num_leaves": 7, "n_jobs": 2, "verbose": -1},
    "xgboost": {"n_estimators": 20, "max_depth": 3, "n_jobs": 2, "verbosity": 0},
    "catboost": {"iterations": 20, "depth": 3, "thread_count": 2, "verbose": False,
                 "allow_writing_files": False},
}


def tiny_params() -> Params:
    # No floor and no baseline to beat: the first day is promoted, later days beat it or not.
    return Params.model_validate({
        "cv": {"n_splits": 2, "embargo": 100},  # the 597-bar default needs longer windows
        "train": {"members": TINY_MEMBERS, "early_stopping_rounds": 5},
        "register": {"ensemble": {"floor": None, "require_beat_baseline": False}},
        "retrain": {"models": ["ensemble"], "training_window_days": 90, "backtest": True},
    })


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[rp.ReplayResult, Path, dict[str, Path]]]:
    import mlflow

    root = tmp_path_factory.mktemp("replay")
    result = rp.replay(tiny_params(), START, END, root, window_days=WINDOW_DAYS)
    paths = rp.write_outputs(result, root)
    yield result, root, paths
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    params = Params()
    raw = data.ingest(params.ingest, None).frame
    return data.validate(params.validate_, raw, "test", None, False)[0]


def test_one_row_per_day_and_outputs(replayed) -> None:  # type: ignore[no-untyped-def]
    result, root, paths = replayed
    assert [d.day for d in result.days] == [date(2021, 10, 25), date(2021, 10, 26),
                                            date(2021, 10, 27)]
    days = pd.read_csv(paths["days"])
    assert list(days["date"]) == ["2021-10-25", "2021-10-26", "2021-10-27"]
    assert list(days["version"].astype(str)) == ["1", "2", "3"]  # one cycle, one version a day
    summary = json.loads(paths["summary"].read_text())
    assert summary["days"] == 3 and summary["window_days"] == WINDOW_DAYS
    assert set(summary["strategies"]) == set(rp.STRATEGIES)
    for stats in summary["strategies"].values():
        assert {"total_return", "sharpe", "max_drawdown", "trades"} <= set(stats)
    assert summary["timeline"]["promotions"] == int(days["promoted"].sum())
    assert paths["plot"].stat().st_size > 10_000
    # The replay's own registry, never the project's mlruns/.
    assert (root / "registry" / "mlruns" / "mlflow.db").exists()
    # retrain.backtest is on in these params; replay cycles skip the walk-forward.
    assert not list((root / "days").glob("*/reports/backtest_metrics.json"))
    assert len(list((root / "days").glob("*/reports/train_metrics.json"))) == 3


def test_each_cycle_trains_only_on_bars_before_its_day(replayed) -> None:  # type: ignore[no-untyped-def]
    result, _, _ = replayed
    for d in result.days:
        begin = rp.day_start(d.day)
        assert d.window_last < begin
        assert d.train_end is not None and d.train_end < begin
        assert d.window_first >= begin - pd.Timedelta(days=WINDOW_DAYS)
        assert d.window_bars <= WINDOW_DAYS * 96


def test_strategies_trade_the_right_versions(replayed, bars) -> None:  # type: ignore[no-untyped-def]
    result, root, _ = replayed
    first = result.days[0]
    assert first.promoted and first.champion_version == first.version  # no champion before
    for d, traded in zip(result.days, result.versions["champion"], strict=True):
        assert d.champion_version is not None and traded == d.champion_version
        assert d.traded_version == d.champion_version
    assert set(result.versions["never_retrain"]) == {first.champion_version}
    assert result.versions["latest"] == [d.version for d in result.days]

    # The champion strategy's positions on each day are those of that day's champion, loaded
    # afresh from the replay's registry, on features built from bars up to that day only.
    load = rp.model_loader(rp.RegistryConfig(root=root / "registry"))
    positions = result.strategies["champion"].positions
    for d in result.days:
        begin = rp.day_start(d.day)
        history = bars[bars["timestamp"] < begin + pd.Timedelta(days=1)]
        feats = data.features(result.params.features, history, None).frame
        rows = feats[feats["timestamp"] >= begin]
        expected = target_positions(load(d.model, d.traded_version).predict_proba(rows),
                                    result.params.backtest)
        got = positions.loc[pd.DatetimeIndex(rows["timestamp"])].to_numpy()
        assert np.array_equal(got, expected), d.day


def test_buy_and_hold_is_the_close_to_close_return(replayed, bars) -> None:  # type: ignore[no-untyped-def]
    result, _, _ = replayed
    begin, stop = rp.day_start(START), rp.day_start(END) + pd.Timedelta(days=1)
    close = bars.loc[(bars["timestamp"] >= begin) & (bars["timestamp"] < stop), "close"]
    expected = close.iloc[-1] / close.iloc[0] - 1.0
    stats = result.stats()["buy_and_hold"]
    # Before costs: long from the first replayed bar's close to the last one's. After costs it
    # differs by the single entry order (fee + slippage on one unit of notional).
    assert abs(stats["gross_total_return"] - expected) < 1e-9
    assert stats["trades"] == 1 and stats["total_return"] < stats["gross_total_return"]
    n_bars = {s["bars"] for s in result.stats().values()}
    assert n_bars == {float(len(close))}  # every strategy scored on the same bars


def test_as_of_slice_is_pure_and_strict() -> None:
    raw = pd.DataFrame({"timestamp": pd.date_range("2021-10-01", periods=5 * 96, freq="15min",
                                                   tz="UTC"), "close": 1.0})
    cut = rp.as_of(raw, date(2021, 10, 4), 1.0)
    assert cut["timestamp"].max() == pd.Timestamp("2021-10-03 23:45", tz="UTC")
    assert cut["timestamp"].min() == pd.Timestamp("2021-10-03 00:00", tz="UTC")
    assert len(rp.as_of(raw, date(2021, 10, 4), None)) == 3 * 96
    with pytest.raises(ValueError, match="before start"):
        rp.day_range(END, START)


def test_a_day_without_bars_is_not_traded() -> None:
    """The bundled bars have no bar on 2021-11-28 (a 2-day outage): nothing to trade that day,
    and the position held at the bar before the gap carries the move across it."""

    class AlwaysUp:
        def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
            return np.full(len(rows), 0.9)

    stamps = pd.date_range("2021-11-27", periods=3 * 96, freq="15min", tz="UTC")
    features = pd.DataFrame({"timestamp": stamps, "close": 1.0})
    features = features[features["timestamp"].dt.date != date(2021, 11, 28)]
    record = rp.DayRecord(date(2021, 11, 27), "m", "1", True, "1", None, 0.5, None, [],
                          stamps[0], stamps[0], 1, None, "", 1.0)
    days = [replace(record, day=date(2021, 11, 27 + i)) for i in range(3)]
    proba = rp.day_probabilities(features, days, ["1", "1", "1"], lambda _m, _v: AlwaysUp())
    assert len(proba) == 2 * 96 and proba.index.equals(pd.DatetimeIndex(features["timestamp"]))
    assert rp.day_rows(features, date(2021, 11, 28)).empty
