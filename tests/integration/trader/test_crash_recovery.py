"""SIGKILL the trader's order path (``python -m trader.replay_driver``) and restart it:
no order lost or duplicated, store and venue agree, the targets are reached — on SQLite and
on PostgreSQL. Random kills, then one test per dangerous point (fault hook), then a warm
restart against a cold rebuild from the venue."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import pytest

from alphaloop.execution import ExecutionParams, OrderStatus
from tests.conftest import REPO
from tests.integration.trader.conftest import (
    StoreSpec,
    assert_store_matches_venue,
    paper,
    write_targets,
)
from trader.executor import Executor
from trader.faults import FAULT_ENV
from trader.store import StateStore

pytestmark = pytest.mark.integration
ACCOUNT = "replay"  # the driver's default
KILLS = 12


class Driver:
    """One run of the replay driver, reading its JSON events as they come."""

    def __init__(self, spec: StoreSpec, venue: Path, targets: Path, log: IO[str],
                 env: dict[str, str] | None = None) -> None:
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "trader.replay_driver", *spec.cli(), "--venue", str(venue),
             "--targets", str(targets)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=log, text=True,
            env={**os.environ, **(env or {})})

    def event(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else {"event": "exit", "code": self.proc.wait()}

    def finish(self) -> int:
        self.proc.communicate(timeout=300)
        return self.proc.returncode


def check_final_state(spec: StoreSpec, venue_path: Path,
                      targets: list[dict[str, Any]]) -> None:
    store, venue = spec.open(), paper(venue_path)
    try:
        asyncio.run(assert_store_matches_venue(store, venue, ACCOUNT))
        last = {t["symbol"]: t["target"] for t in targets}
        held = {s: p.quantity for s, p in store.positions(ACCOUNT).items()}
        assert {s: held.get(s, 0.0) for s in last} == pytest.approx(last, abs=1e-12)
        assert all(d.outputs.get("done") for d in store.decisions())
        assert len(store.decisions()) == len(targets)
    finally:
        store.close()
        asyncio.run(venue.close())


def test_random_sigkills_during_a_replay_lose_and_duplicate_no_order(
        store_spec: StoreSpec, tmp_path: Path) -> None:
    targets = write_targets(tmp_path / "targets.jsonl", bars=20, seed=11)
    venue_path = tmp_path / "venue.db"
    rng = random.Random(20240101)
    kill_after = sorted(rng.sample(range(len(targets) - 4), KILLS))  # spread over the run
    kills, ready_s, start_s, line_s, in_doubt = 0, [], [], [0.05], 0
    with (tmp_path / "driver.log").open("a") as log:
        while True:
            driver = Driver(store_spec, venue_path, tmp_path / "targets.jsonl", log)
            ready = driver.event()
            assert ready["event"] == "ready", ready
            ready_s.append(time.perf_counter() - driver.started)
            start_s.append(ready["start_s"])
            in_doubt += len(ready["in_doubt"])
            if kills == KILLS:
                assert driver.finish() == 0
                break
            event, seen = driver.event(), [time.perf_counter()]
            while event["event"] == "bar" and event["index"] < kill_after[kills]:
                event = driver.event()
                seen.append(time.perf_counter())
            assert event["event"] == "bar", f"the replay ended before kill {kills + 1}: {event}"
            line_s += [b - a for a, b in itertools.pairwise(seen)]
            # a random point within about one bar's work: the next bar's order path
            time.sleep(rng.uniform(0.0, statistics.median(line_s)))
            driver.proc.send_signal(signal.SIGKILL)
            assert driver.proc.wait() == -signal.SIGKILL
            kills += 1
    check_final_state(store_spec, venue_path, targets)
    print(f"\n{store_spec.url.split(':')[0]}: {kills} SIGKILLs, {len(ready_s)} starts, "
          f"{in_doubt} order(s) in doubt at restart; restart-to-ready median "
          f"{statistics.median(ready_s):.2f} s (max {max(ready_s):.2f}), reconciliation "
          f"median {statistics.median(start_s):.3f} s (max {max(start_s):.3f})")


@pytest.mark.parametrize("point", ["intent_stored", "order_sent"])
def test_kill_between_steps_of_one_order(store_spec: StoreSpec, tmp_path: Path,
                                         point: str) -> None:
    """``intent_stored``: committed, not sent. ``order_sent``: the venue has the order, the
    store does not have its answer. Killed at the third order, then restarted."""
    targets = write_targets(tmp_path / "targets.jsonl", bars=6, seed=5)
    venue_path = tmp_path / "venue.db"
    with (tmp_path / "driver.log").open("a") as log:
        killed = Driver(store_spec, venue_path, tmp_path / "targets.jsonl", log,
                        env={FAULT_ENV: f"{point}@3"})
        assert killed.finish() == -signal.SIGKILL

        store, venue = store_spec.open(), paper(venue_path)
        (pending,) = [o for o in store.orders(ACCOUNT) if not o.settled]
        assert pending.status == OrderStatus.PENDING_SUBMIT
        at_venue = {o.client_order_id for o in venue.venue_orders()}
        assert (pending.client_order_id in at_venue) == (point == "order_sent")
        assert len(venue.submissions()) == (3 if point == "order_sent" else 2)
        store.close()

        restarted = Driver(store_spec, venue_path, tmp_path / "targets.jsonl", log)
        ready = restarted.event()
        assert ready["event"] == "ready", ready
        assert ready["in_doubt"] == [pending.client_order_id]
        assert restarted.finish() == 0
    check_final_state(store_spec, venue_path, targets)
    store = store_spec.open()
    try:
        resolved = store.order(pending.client_order_id)
        assert resolved is not None
        if point == "order_sent":  # found at the venue and adopted, not sent again
            assert resolved.status == OrderStatus.FILLED
        else:  # never reached the venue: replaced by the bar's next sequence number
            assert resolved.status == OrderStatus.NOT_PLACED
            (replacement,) = [o for o in store.orders(ACCOUNT, symbol=pending.intent.symbol)
                              if o.intent.bar_time == pending.intent.bar_time
                              and o.intent.sequence == 1]
            assert replacement.status == OrderStatus.FILLED
    finally:
        store.close()


def test_warm_restart_ends_in_the_same_state_as_a_cold_rebuild(
        store_spec: StoreSpec, tmp_path: Path) -> None:
    targets = write_targets(tmp_path / "targets.jsonl", bars=6, seed=8)
    venue_path = tmp_path / "venue.db"
    with (tmp_path / "driver.log").open("w") as log:  # killed with an answer not stored
        killed = Driver(store_spec, venue_path, tmp_path / "targets.jsonl", log,
                        env={FAULT_ENV: "order_sent@4"})
        assert killed.finish() == -signal.SIGKILL

    async def state(store: StateStore) -> tuple[Any, ...]:
        venue = paper(venue_path)
        executor = Executor(venue, store, ACCOUNT, ExecutionParams(not_found_polls=1,
                                                                   not_found_grace_s=0))
        report = await executor.start()
        held = {s: p.quantity for s, p in executor.positions().items() if p.quantity}
        prices = {t["symbol"]: t["price"] for t in targets}
        result = (held, executor.cash(), executor.equity(prices),
                  store.orders(ACCOUNT, unsettled_only=True), report.adopted)
        await venue.close()
        store.close()
        return result

    warm = asyncio.run(state(store_spec.open()))
    cold = asyncio.run(state(StateStore(f"sqlite:///{tmp_path / 'cold.db'}")))
    assert warm[:4] == cold[:4]
    assert warm[0] and warm[3] == []  # it holds something; nothing left in doubt
    assert (warm[4], cold[4]) == (False, True)


def test_fault_hook_names_its_points(monkeypatch: pytest.MonkeyPatch) -> None:
    from collections import Counter

    from trader import faults
    from trader.faults import fault_point

    monkeypatch.setattr(faults, "_reached", Counter())  # this process's visits, for this test
    monkeypatch.setenv(FAULT_ENV, "after_lunch")
    with pytest.raises(ValueError, match="intent_stored, order_sent"):
        fault_point("intent_stored")
    monkeypatch.setenv(FAULT_ENV, "order_sent@2")
    fault_point("intent_stored")  # another point: nothing happens
    fault_point("order_sent")  # the first visit of two: nothing happens
    monkeypatch.delenv(FAULT_ENV)
    fault_point("order_sent")  # unset: never
