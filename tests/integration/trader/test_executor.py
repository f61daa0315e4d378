"""The executor against a paper venue: timeouts, failing queries, failed reconciliation,
orders the venue cannot find, the kill switch."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from alphaloop.execution import ExecutionParams, OrderIntent, OrderStatus, VenueOrder
from tests.integration.trader.conftest import (
    T0,
    AcceptThenTimeout,
    FailingQueries,
    StoreSpec,
    assert_store_matches_venue,
    paper,
)
from trader.brokers import VenueQueryError
from trader.brokers.paper import PaperBroker
from trader.executor import Executor, OrderInFlight, ReconciliationError, TradingHalted
from trader.store import StateStore

pytestmark = pytest.mark.integration
BTC = "BTC/USD"
FAST = ExecutionParams(not_found_polls=1, not_found_grace_s=0.0)


def bar(i: int) -> datetime:
    return T0 + timedelta(minutes=15 * i)


async def trade(executor: Executor, venue: PaperBroker, i: int, target: float,
                price: float = 40_000.0) -> None:
    venue.set_price(BTC, price, bar(i))
    await executor.rebalance(BTC, target, price, f"d{i}", bar(i))


def intent(cid: str, side: str, quantity: float, i: int) -> OrderIntent:
    """An intent made by hand (as a crashed run or another client left it)."""
    return OrderIntent(intent_id=cid, client_order_id=cid, symbol=BTC,
                       side=side, quantity=quantity,  # type: ignore[arg-type]
                       reference_price=40_000.0, created_at=bar(i), decision_id=None,
                       bar_time=bar(i))


def snapshot(store: StateStore, account: str = "acct") -> tuple[object, ...]:
    return (store.orders(account), store.fills(account), store.positions(account),
            store.cash(account))


def test_rebalance_moves_the_position_and_keeps_store_and_venue_equal(
        store_spec: StoreSpec, venue_path: Path) -> None:
    async def scenario() -> None:
        store, venue = store_spec.open(), paper(venue_path)
        executor = Executor(venue, store, "acct", FAST)
        with pytest.raises(TradingHalted, match="not reconciled"):
            await trade(executor, venue, 0, 1.0)
        report = await executor.start()
        assert report.adopted and executor.cash() == 100_000.0
        await trade(executor, venue, 0, 1.0)
        await trade(executor, venue, 1, 1.0)           # unchanged target: no order
        await trade(executor, venue, 2, -0.5, 41_000.0)  # flip
        assert executor.position(BTC).quantity == -0.5
        assert len(venue.venue_orders()) == 2
        expected_cash = 100_000.0 - 40_000.0 - 60.0 + 1.5 * 41_000.0 - 1.5 * 41_000.0 * 15e-4
        assert executor.cash() == pytest.approx(expected_cash, rel=1e-12)
        assert executor.equity({BTC: 42_000.0}) == pytest.approx(expected_cash - 21_000.0)
        with pytest.raises(ValueError, match="needs a price"):
            executor.equity({})
        await assert_store_matches_venue(store, venue, "acct")
        store.close()

    asyncio.run(scenario())


class HangsAfterAccepting(PaperBroker):
    """A venue that takes the order, then never answers (the executor's own timeout)."""

    async def submit(self, intent: OrderIntent) -> VenueOrder:
        await super().submit(intent)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


@pytest.mark.parametrize("venue_kind", [AcceptThenTimeout, HangsAfterAccepting])
def test_accepted_then_timed_out_is_exactly_one_venue_order(
        store_spec: StoreSpec, venue_path: Path, venue_kind: type[PaperBroker]) -> None:
    async def scenario() -> None:
        store, venue = store_spec.open(), venue_kind(venue_path)
        params = ExecutionParams(submit_timeout_s=0.2, not_found_polls=1, not_found_grace_s=0)
        executor = Executor(venue, store, "acct", params)
        await executor.start()
        venue.set_price(BTC, 40_000.0, bar(0))
        fills = await executor.rebalance(BTC, 1.0, 40_000.0, "d0", bar(0))
        # the executor asked the venue by client order id and found the order filled
        assert [f.quantity for f in fills] == [1.0]
        (order,) = store.orders("acct")
        assert order.status == OrderStatus.FILLED and order.settled
        assert "no answer" in (order.last_error or "")
        await trade(executor, venue, 0, 1.0)  # the same decision again: nothing to do
        assert len(venue.venue_orders()) == 1 and len(venue.submissions()) == 1
        await assert_store_matches_venue(store, venue, "acct")
        store.close()

    asyncio.run(scenario())


class TimeoutThenQueriesFail(AcceptThenTimeout, FailingQueries):
    failing = False


def test_unknown_order_is_asked_about_before_anything_else_is_sent(
        store_spec: StoreSpec, venue_path: Path) -> None:
    async def scenario() -> None:
        store, venue = store_spec.open(), TimeoutThenQueriesFail(venue_path)
        executor = Executor(venue, store, "acct", FAST)
        await executor.start()
        venue.set_price(BTC, 40_000.0, bar(0))
        venue.failing = False
        original_submit = venue.submit

        async def submit_then_fail_queries(intent: OrderIntent) -> VenueOrder:
            venue.failing = True  # the timeout's follow-up query fails too
            return await original_submit(intent)

        venue.submit = submit_then_fail_queries  # type: ignore[method-assign]
        with pytest.raises(VenueQueryError):
            await executor.rebalance(BTC, 1.0, 40_000.0, "d0", bar(0))
        (order,) = store.orders("acct")
        assert order.status == OrderStatus.UNKNOWN and executor.position(BTC).quantity == 0
        venue.submit = original_submit  # type: ignore[method-assign]
        venue.failing = False
        # next bar wants 2.0: the unknown order is found (filled 1.0) first, then only
        # the remaining 1.0 is sent
        await trade(executor, venue, 1, 2.0)
        assert [o.quantity for o in venue.venue_orders()] == [1.0, 1.0]
        assert executor.position(BTC).quantity == 2.0
        await assert_store_matches_venue(store, venue, "acct")
        store.close()

    asyncio.run(scenario())


def test_failed_venue_query_leaves_positions_and_orders_unchanged(
        store_spec: StoreSpec, venue_path: Path) -> None:
    async def scenario() -> None:
        store, venue = store_spec.open(), FailingQueries(venue_path)
        venue.failing = False
        executor = Executor(venue, store, "acct", FAST)
        await executor.start()
        await trade(executor, venue, 0, 1.5)
        # as a crash between the commit and the send leaves it
        store.add_intent("acct", intent("al-indoubt", "sell", 0.5, 1))
        before, sent = snapshot(store), venue.submissions()
        venue.failing = True
        with pytest.raises(VenueQueryError):
            await executor.poll()
        with pytest.raises(VenueQueryError):
            await trade(executor, venue, 2, 3.0)
        with pytest.raises(ReconciliationError, match="503"):
            await Executor(venue, store, "acct", FAST).start()
        assert snapshot(store) == before  # never "flat", never "cancelled"
        assert venue.submissions() == sent  # nothing was placed
        venue.failing = False
        await executor.start()
        assert store.order("al-indoubt").status == OrderStatus.NOT_PLACED  # type: ignore[union-attr]
        await assert_store_matches_venue(store, venue, "acct")
        store.close()

    asyncio.run(scenario())


def test_failed_reconciliation_stops_trading_and_says_why(
        store_spec: StoreSpec, venue_path: Path) -> None:
    async def scenario() -> None:
        store, venue = store_spec.open(), paper(venue_path)
        executor = Executor(venue, store, "acct", FAST)
        await executor.start()
        await trade(executor, venue, 0, 1.0)
        # someone trades on the account behind the trader's back
        await venue.submit(intent("manual-1", "buy", 0.25, 1))
        restarted = Executor(venue, store, "acct", FAST)
        with pytest.raises(ReconciliationError) as failed:
            await restarted.start()
        assert "position BTC/USD: store 1.0 vs venue 1.25" in str(failed.value)
        assert "cash" in str(failed.value)
        assert restarted.halted_reason == str(failed.value)
        assert (store.flag("acct", "status") or "").startswith("halted: reconciliation failed")
        sent = venue.submissions()
        with pytest.raises(TradingHalted, match="position BTC/USD"):
            await trade(restarted, venue, 2, 0.0)
        assert venue.submissions() == sent
        store.close()

    asyncio.run(scenario())


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize("arrives_late", [False, True])
def test_order_the_venue_cannot_find_is_polled_across_restarts(
        store_spec: StoreSpec, venue_path: Path, arrives_late: bool) -> None:
    async def scenario() -> None:
        store, venue = store_spec.open(), paper(venue_path)
        clock = Clock(bar(0))
        params = ExecutionParams(not_found_polls=3, not_found_grace_s=60.0)
        first = Executor(venue, store, "acct", params, clock=clock)
        await first.start()
        venue.set_price(BTC, 40_000.0, bar(0))
        lost = intent("al-lost", "buy", 1.0, 0)
        store.add_intent("acct", lost)  # the state a kill between commit and send leaves
        # every query counts a miss (start, then the rebalance's): by t=45 s there are 5,
        # more than not_found_polls, but the 60 s grace is not over, so it stays unknown
        for seconds, polls in ((0, 1), (30, 3), (45, 5)):
            clock.now = bar(0) + timedelta(seconds=seconds)
            restarted = Executor(venue, store, "acct", params, clock=clock)
            report = await restarted.start()  # in doubt is not a failure ...
            assert report.in_doubt == ["al-lost"]
            order = store.order("al-lost")
            assert order is not None and order.status == OrderStatus.UNKNOWN
            assert order.missing_polls == polls
            with pytest.raises(OrderInFlight, match="al-lost"):  # ... but blocks the symbol
                await restarted.rebalance(BTC, 1.0, 40_000.0, "d0", bar(0))
        assert venue.submissions() == []
        if arrives_late:
            await venue.submit(lost)  # the request reaches the venue late after all
        clock.now = bar(0) + timedelta(seconds=61)
        final = Executor(venue, store, "acct", params, clock=clock)
        await final.start()
        order = store.order("al-lost")
        assert order is not None
        assert order.status == (OrderStatus.FILLED if arrives_late else OrderStatus.NOT_PLACED)
        await final.rebalance(BTC, 1.0, 40_000.0, "d0", bar(0))
        assert final.position(BTC).quantity == 1.0
        assert len(venue.venue_orders()) == 1  # never two orders for one target
        if not arrives_late:  # the replacement got the next sequence number
            assert store.orders("acct")[-1].intent.sequence == 1
        await assert_store_matches_venue(store, venue, "acct")
        store.close()

    asyncio.run(scenario())


def test_kill_switch_allows_only_reducing_orders(tmp_path: Path, venue_path: Path) -> None:
    async def scenario() -> None:
        store = StateStore(f"sqlite:///{tmp_path / 's.db'}")
        venue = paper(venue_path)
        executor = Executor(venue, store, "acct", FAST)
        await executor.start()
        await trade(executor, venue, 0, 2.0)
        executor.engage_kill_switch("max daily loss 3% reached")
        restarted = Executor(venue, store, "acct", FAST)  # the switch survives restarts
        await restarted.start()
        for target in (3.0, -1.0):
            with pytest.raises(TradingHalted, match="max daily loss"):
                await trade(restarted, venue, 1, target)
        await trade(restarted, venue, 1, 0.5)
        await trade(restarted, venue, 2, 0.0)
        restarted.release_kill_switch()
        await trade(restarted, venue, 3, 1.0)
        assert [o.quantity for o in venue.venue_orders()] == [2.0, 1.5, 0.5, 1.0]

    asyncio.run(scenario())


def test_a_venue_contradicting_an_order_later_halts_trading(tmp_path: Path,
                                                           venue_path: Path) -> None:
    async def scenario() -> None:
        store, venue = StateStore(f"sqlite:///{tmp_path / 's.db'}"), paper(venue_path)
        executor = Executor(venue, store, "acct", FAST)
        await executor.start()
        venue.set_price(BTC, 40_000.0, bar(0))
        await venue.submit(intent("al-theirs", "sell", 2.0, 0))  # the venue's version
        store.add_intent("acct", intent("al-theirs", "buy", 1.0, 0))  # ours differs
        with pytest.raises(TradingHalted, match=r"we sent buy 1\.0"):
            await trade(executor, venue, 0, 1.0)
        with pytest.raises(TradingHalted, match="contradicts the store"):
            await trade(executor, venue, 1, 1.0)  # and stays halted
        assert (store.flag("acct", "status") or "").startswith("halted: the venue contradicts")
        assert len(venue.submissions()) == 1

    asyncio.run(scenario())
