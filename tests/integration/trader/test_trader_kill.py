"""``alphaloop trade`` killed with SIGKILL at random points of a replay, ten times, restarted.

The whole trader runs as a user runs it (a process against the real serving API), on a
SQLite store and on PostgreSQL. After the last restart finishes the replay: every bar was
decided once, as in an uninterrupted run; the venue saw each order once (one submit per client
order id) and holds exactly the store's orders; positions and cash reconcile; the equity curve
equals the uninterrupted run's.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import REPO
from tests.integration.trader.conftest import StoreSpec
from tests.integration.trader.e2e_setup import REPLAY_BARS, TOKEN
from trader.brokers.paper import PaperBroker
from trader.store import StateStore

pytestmark = pytest.mark.integration
KILLS = 10


def _decided(store_url: str, account: str) -> int:
    store = StateStore(store_url)
    try:
        return sum(1 for d in store.decisions() if d.decision_id.startswith(f"{account}:"))
    except Exception:  # the first process may not have created the tables yet
        return 0
    finally:
        store.close()


def test_random_sigkills_of_the_trader_lose_and_duplicate_nothing(
        project: tuple[Path, Any], serving: Any, store_spec: StoreSpec, tmp_path: Path) -> None:
    root, _ = project
    store_url = store_spec.url_in_schema
    env = {**os.environ, "ALPHALOOP_TRADER_STORE_URL": store_url, "ALPHALOOP_API_TOKEN": TOKEN,
           "PYTHONPATH": str(REPO), "ALPHALOOP_LOG_LEVEL": "WARNING"}
    cmd = [sys.executable, "-m", "pipelines.cli", "trade", "--params",
           str(root / "params.yaml"), "--serving-url", serving.url, "--account", "kill",
           "--report", str(tmp_path / "reports")]
    rng = random.Random(7)
    kills = 0
    for _ in range(KILLS * 3):
        with (tmp_path / "trade.log").open("ab") as log:
            process = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log,
                                       stderr=subprocess.STDOUT)
        if kills < KILLS:
            target = _decided(store_url, "kill") + rng.randint(1, 8)
            while process.poll() is None and _decided(store_url, "kill") < target:
                time.sleep(rng.uniform(0.0, 0.05))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
        if process.wait(300) == 0:
            break
        assert process.returncode == -signal.SIGKILL, (tmp_path / "trade.log").read_text()
    assert kills == KILLS, f"the replay finished after {kills} kills"
    assert process.returncode == 0, (tmp_path / "trade.log").read_text()[-3000:]
    _check(store_url, tmp_path, project, serving.url)


def _last_equity(store: StateStore, account: str) -> dict[Any, float]:
    """Equity per bar; a bar decided again after a kill replaces its first snapshot."""
    return {snap.time: snap.equity for snap in store.equity_curve(account)}


def _check(store_url: str, where: Path, project: tuple[Path, Any], serving_url: str) -> None:
    store = StateStore(store_url)
    venue = PaperBroker(where / ".alphaloop" / "trader" / "paper-venue-kill.db",
                        initial_cash=project[1].trader.starting_cash,
                        fee_bps=project[1].backtest.fee_bps,
                        slippage_bps=project[1].backtest.slippage_bps)
    try:
        made = [d for d in store.decisions() if d.decision_id.startswith("kill:")]
        assert len(made) == REPLAY_BARS == len({d.decision_id for d in made})
        orders = store.orders("kill")
        venue_orders = {o.client_order_id: o for o in venue.venue_orders()}
        submits = [cid for cid, _ in venue.submissions()]
        assert len(submits) == len(set(submits)), "an order was sent twice"
        # An intent stored but never sent (killed in between) is `not_placed`: the venue never
        # saw it. Every other order is at the venue, and the venue has no other order.
        placed = {o.client_order_id for o in orders if o.status.value != "not_placed"}
        assert placed == set(venue_orders)  # none lost, none unknown to the store
        assert all(o.status.value in ("filled", "not_placed") for o in orders)
        positions = {s: p.quantity for s, p in store.positions("kill").items() if p.quantity}
        held = asyncio.run(venue.fetch_positions())
        assert positions.keys() == {s for s, q in held.items() if q}
        for symbol, quantity in positions.items():
            assert quantity == pytest.approx(held[symbol], abs=1e-12)
        # The same decisions and equity as an uninterrupted run of the same bars.
        clean_url = _uninterrupted(project, where / "clean", serving_url)
        clean = StateStore(clean_url)
        try:
            reference = [d for d in clean.decisions() if d.decision_id.startswith("kill:")]
            for a, b in zip(made, reference, strict=True):
                assert a.bar_time == b.bar_time
                assert a.outputs["target"] == pytest.approx(b.outputs["target"], abs=1e-12)
            mine, theirs = _last_equity(store, "kill"), _last_equity(clean, "kill")
            assert mine.keys() == theirs.keys()
            assert np.allclose(list(mine.values()), list(theirs.values()), rtol=1e-12, atol=0)
        finally:
            clean.close()
    finally:
        store.close()
        asyncio.run(venue.close())


def _uninterrupted(project: tuple[Path, Any], state: Path, serving_url: str) -> str:
    """The same replay without kills, in process, on a store of its own; its URL."""
    import asyncio

    from tests.integration.trader.e2e_setup import settings
    from trader.runner import build_paper, replay_frames

    params = project[1]
    url = f"sqlite:///{(state / 'state.db').resolve()}"

    async def run() -> None:
        session = build_paper(params, settings(url), serving_url=serving_url, account="kill",
                              token=TOKEN, state_dir=state,
                              frames=replay_frames(params, ["BTC-USD"]))
        try:
            await session.trader.run(session.feed)
        finally:
            await session.close()

    asyncio.run(run())
    return url
