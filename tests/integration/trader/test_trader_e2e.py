"""The trader end to end: real BentoML serving, real registry, replayed real bars, paper venue.

- a replay lands decisions, orders, fills and equity in the store;
- the paper run and the stepwise backtester take the same position on every bar and end with
  the same equity (to 1e-9);
- serving stopped mid-run: HOLD, no crash, then recovery;
- Redis stopped mid-run: the same decisions as with Redis up.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from alphaloop.config import Params
from alphaloop.trading.rules import DecisionRules, rolling_vol
from alphaloop.trading.stepwise import run_stepwise
from tests.integration.flows.conftest import free_port
from tests.integration.trader.e2e_setup import REPLAY_BARS, TOKEN, Serving, settings
from trader.runner import build_paper
from trader.store import StateStore

pytestmark = pytest.mark.integration


def replay(params: Params, url: str, state: Path, account: str,
           frames: dict[str, pd.DataFrame], redis_url: str | None = None,
           during: Any = None, wrap: Any = None) -> tuple[Any, StateStore]:
    """One paper replay; ``during(session)`` runs beside it (to break things mid-run) and
    ``wrap(feed)`` may pace the feed."""
    store_url = f"sqlite:///{(state / 'state.db').resolve()}"

    async def run() -> Any:
        session = build_paper(params, settings(store_url, redis_url), serving_url=url,
                              account=account, token=TOKEN, state_dir=state, frames=frames)
        try:
            task = asyncio.create_task(during(session)) if during else None
            feed = wrap(session.feed) if wrap else session.feed
            report = await session.trader.run(feed)
            if task is not None:
                await task
            return report, session.cache.stats
        finally:
            await session.close()

    report = asyncio.run(run())
    return report, StateStore(store_url)


def decisions(store: StateStore, account: str) -> list[Any]:
    return [d for d in store.decisions() if d.decision_id.startswith(f"{account}:")]


@pytest.fixture(scope="module")
def first_run(project: tuple[Path, Params], serving: Serving, frames: dict[str, pd.DataFrame],
              tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, StateStore]:
    return replay(project[1], serving.url, tmp_path_factory.mktemp("state"), "e2e", frames)


def test_a_paper_replay_lands_decisions_orders_and_fills_in_the_store(
        first_run: tuple[Any, StateStore]) -> None:
    (report, stats), store = first_run
    assert report.bars == REPLAY_BARS and report.halted is None and report.holds == 0
    made = decisions(store, "e2e")
    assert len(made) == REPLAY_BARS
    assert {"prob_up", "model", "version", "regime_label", "meta_score", "vol", "equity"} <= \
        set(made[0].inputs)
    assert made[0].inputs["model"].startswith("ensemble.BTC-USD.15m.h4.")
    assert all(0.0 <= d.inputs["prob_up"] <= 1.0 for d in made)
    assert any(d.inputs["regime_label"] for d in made)  # /regime answered
    orders, fills = store.orders("e2e"), store.fills("e2e")
    assert len(orders) >= 50 and len(fills) == len(orders)  # confidence sizing: most bars
    assert all(o.status.value == "filled" for o in orders)
    assert len({o.client_order_id for o in orders}) == len(orders)
    assert len(store.equity_curve("e2e")) == REPLAY_BARS
    assert stats.hit_rate("features") == 0.0  # a cold in-process cache: every row computed


def test_the_paper_run_and_the_backtester_agree_bar_by_bar(
        project: tuple[Path, Params], first_run: tuple[Any, StateStore],
        frames: dict[str, pd.DataFrame]) -> None:
    """Batch features, the model in process, the stepwise backtester: the same positions."""
    import mlflow

    from alphaloop.features import build_features

    root, params = project
    _, store = first_run
    made = decisions(store, "e2e")
    bars = frames["BTC-USD"]
    segment = bars[bars["segment"] == bars["segment"].iloc[-1]].reset_index(drop=True)
    feats = build_features(segment, params.features).frame.tail(REPLAY_BARS)
    mlflow.set_tracking_uri(f"sqlite:///{(root / 'mlruns' / 'mlflow.db').resolve()}")
    model = mlflow.pyfunc.load_model(f"models:/{made[0].inputs['model']}@champion")
    predictor = model.unwrap_python_model().predictor
    prob = predictor.predict_proba(feats[predictor.feature_columns])
    served = np.array([d.inputs["prob_up"] for d in made])
    assert np.abs(prob - served).max() < 1e-9  # online features + served model = batch + local
    close = pd.Series(feats["close"].to_numpy(), index=pd.DatetimeIndex(feats["timestamp"]))
    vol = rolling_vol(segment["close"].to_numpy(), params.risk.vol_window)[-REPLAY_BARS:]
    assert np.allclose(vol, [d.inputs["vol"] for d in made], rtol=1e-12)
    rules = DecisionRules(params.backtest, params.risk, params.target.horizon)
    gates = np.array([d.inputs["allow_entry"] for d in made])  # the served regime's gate
    backtest = run_stepwise(close, prob, rules, vol=vol, allow_entry=gates).backtest
    targets = np.array([d.outputs["target"] for d in made])
    # Confidence sizing: a position is |2p - 1|, so it carries p's float noise (1e-16 here).
    assert np.array_equal(np.sign(backtest.positions.to_numpy()), np.sign(targets))
    assert np.abs(backtest.positions.to_numpy() - targets).max() < 1e-12
    paper = np.array([s.equity for s in store.equity_curve("e2e")])
    assert np.abs(paper / params.trader.starting_cash - backtest.equity.to_numpy()).max() < 1e-9
    assert backtest.trades == len(store.orders("e2e"))


class HeldBackFeed:
    """The session's feed, paused at bar ``hold_at`` until ``ready`` is set, then 4 bars a second.

    How long a restarted server takes to answer depends on the machine's load; pausing the
    replay (as a live feed waits for the next bar) keeps bars for the recovery to show on.
    """

    def __init__(self, feed: Any, hold_at: int, ready: asyncio.Event) -> None:
        self.feed, self.hold_at, self.ready = feed, hold_at, ready

    async def __aiter__(self) -> Any:
        n = 0
        async for event in self.feed:
            if n == self.hold_at:
                await self.ready.wait()
            if n >= self.hold_at:
                await asyncio.sleep(0.25)
            n += 1
            yield event


def test_serving_stopped_mid_run_holds_then_recovers(
        project: tuple[Path, Params], serving: Serving, frames: dict[str, pd.DataFrame],
        tmp_path: Path) -> None:
    params = project[1]
    slow = params.model_copy(update={"trader": params.trader.model_copy(update={
        "replay": params.trader.replay.model_copy(update={"speed": 4.0, "bars": 100})})})
    served_again = asyncio.Event()

    async def outage(session: Any) -> None:
        await asyncio.sleep(4)
        await asyncio.to_thread(serving.stop)
        await asyncio.sleep(3)
        await asyncio.to_thread(serving.start)
        await asyncio.to_thread(serving.wait_for_models)
        # The trader's breaker stays open for breaker_ttl_s after its last failed call.
        await asyncio.sleep(params.trader.serving.breaker_ttl_s)
        served_again.set()

    (report, _), store = replay(
        slow, serving.url, tmp_path, "outage", frames, during=outage,
        wrap=lambda feed: HeldBackFeed(feed, hold_at=60, ready=served_again))
    made = decisions(store, "outage")
    assert len(made) == 100 and report.halted is None  # no crash: every bar decided
    held = [i for i, d in enumerate(made) if d.inputs["degraded"]]
    assert held, "serving was down for several bars but no bar was degraded"
    for i in held:
        assert made[i].outputs["reason"].startswith("hold")
        assert made[i].outputs["target"] == made[i - 1].outputs["target"]  # position kept
        assert made[i].outputs["turnover"] == 0.0
    assert held[-1] < len(made) - 1, "never recovered"  # the bars after the last HOLD traded
    assert report.holds == len(held)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    for _ in range(50):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            import time

            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0", process
    process.kill()
    process.wait(10)


def test_redis_stopped_mid_run_changes_no_decision(
        project: tuple[Path, Params], serving: Serving, frames: dict[str, pd.DataFrame],
        first_run: tuple[Any, StateStore], own_redis: tuple[str, Any], tmp_path: Path) -> None:
    _, params = project
    url, redis_process = own_redis
    (_, warm_stats), _ = replay(params, serving.url, tmp_path / "a", "redis-a", frames, url)

    async def kill_redis(session: Any) -> None:
        while session.trader.report.bars < 40:
            await asyncio.sleep(0.01)
        redis_process.kill()

    (_, stats), store = replay(params, serving.url, tmp_path / "b", "redis-b", frames,
                                    url, during=kill_redis)
    assert warm_stats.hit_rate("features") == 0.0 and stats.hits.get("features", 0) >= 40
    assert stats.errors >= 1  # it noticed Redis go away ...
    reference = decisions(first_run[1], "e2e")
    made = decisions(store, "redis-b")
    assert len(made) == len(reference) == REPLAY_BARS  # ... and went on
    for a, b in zip(reference, made, strict=True):
        assert math.isclose(a.outputs["target"], b.outputs["target"], abs_tol=1e-12)
        assert math.isclose(a.inputs["prob_up"], b.inputs["prob_up"], abs_tol=1e-12)
    ref_equity = [s.equity for s in first_run[1].equity_curve("e2e")]
    equity = [s.equity for s in store.equity_curve("redis-b")]
    assert np.allclose(ref_equity, equity, rtol=0, atol=1e-9)
