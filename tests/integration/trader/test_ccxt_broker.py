"""``CcxtBroker`` on a real ccxt Binance object whose HTTP layer answers like Binance's API
(``binance_http.py``): the exact requests, the client order ids, no order sent twice."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from alphaloop.config import Settings
from alphaloop.execution import ExecutionParams, OrderStatus
from tests.integration.trader.binance_http import FakeBinance, binance_class
from tests.integration.trader.conftest import T0
from trader.brokers import BrokerConfigError, OrderRejected, VenueQueryError
from trader.brokers.ccxt_broker import CcxtBroker
from trader.executor import Executor, ReconciliationError
from trader.store import StateStore

pytestmark = pytest.mark.integration
KEY, SECRET = "k3y-AbCdEf0123456789", "s3cr3t-ZyXwVu9876543210"
OPTIONS = {"fetchCurrencies": False, "fetchMargins": False, "fetchMarkets": {"types": ["spot"]}}
BTC = "BTC/USDT"
PARAMS = ExecutionParams(not_found_polls=1, not_found_grace_s=0.0)


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("ALPHALOOP_EXCHANGE_API_KEY", KEY)
    monkeypatch.setenv("ALPHALOOP_EXCHANGE_API_SECRET", SECRET)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def broker(venue: FakeBinance, settings: Settings) -> CcxtBroker:
    return CcxtBroker("binance", [BTC, "ETH/USDT"], settings=settings,
                      exchange_options=OPTIONS, exchange_class=binance_class(venue))


def test_refuses_to_construct_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALPHALOOP_EXCHANGE_API_KEY", raising=False)
    monkeypatch.delenv("ALPHALOOP_EXCHANGE_API_SECRET", raising=False)
    with pytest.raises(BrokerConfigError, match="ALPHALOOP_EXCHANGE_API_KEY"):
        CcxtBroker("binance", [BTC], settings=Settings(_env_file=None))  # type: ignore[call-arg]
    monkeypatch.setenv("ALPHALOOP_EXCHANGE_API_KEY", KEY)  # a key without its secret
    with pytest.raises(BrokerConfigError, match="ALPHALOOP_EXCHANGE_API_SECRET"):
        CcxtBroker("binance", [BTC], settings=Settings(_env_file=None))  # type: ignore[call-arg]


def test_orders_are_sent_exactly_as_binance_expects(
        credentials: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    venue = FakeBinance()

    async def scenario() -> None:
        live = broker(venue, credentials)
        assert SECRET not in repr(live) and KEY not in repr(live)
        assert await live.normalize_quantity(BTC, 0.0123456789) == 0.01234  # stepSize 1e-5
        assert await live.normalize_quantity(BTC, 0.000004) == 0.0          # below minQty
        store = StateStore(f"sqlite:///{tmp_path / 's.db'}")
        executor = Executor(live, store, "live-1", PARAMS)
        report = await executor.start()
        assert report.adopted and executor.cash() == 10_000.0
        await executor.rebalance(BTC, 0.0123456789, 43_000.0, "d0", T0)
        (order,) = store.orders("live-1")
        (post,) = venue.posts()
        assert {k: v for k, v in post.params.items()
                if k not in ("timestamp", "recvWindow", "signature")} == {
            "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01234",
            "newClientOrderId": order.client_order_id, "newOrderRespType": "FULL"}
        assert order.intent.quantity == 0.01234 and len(order.client_order_id) <= 36
        assert post.headers["X-MBX-APIKEY"] == KEY and len(post.params["signature"]) == 64
        # checked the id was unused at the venue, sent, then read the order and its trades
        cid = order.client_order_id
        assert [(r.method, r.path, r.params.get("origClientOrderId")) for r in
                venue.requests[-4:]] == [("GET", "/api/v3/order", cid),
                                         ("POST", "/api/v3/order", None),
                                         ("GET", "/api/v3/order", cid),
                                         ("GET", "/api/v3/myTrades", None)]
        fills = store.fills("live-1", order.client_order_id)
        assert len(fills) == 2 and {f.fee_asset for f in fills} == {"base"}
        assert order.status == OrderStatus.FILLED and order.settled
        held = executor.position(BTC).quantity
        assert held == pytest.approx(0.01234 * 0.999, abs=1e-12)  # fee taken in BTC
        venue.prices["BTCUSDT"] = 44_000.0
        await executor.rebalance(BTC, 0.0, 44_000.0, "d1", T0)  # sell what is held
        sell = venue.posts()[-1].params
        assert (sell["side"], sell["quantity"]) == ("SELL", "0.01232")  # rounded down
        restarted = Executor(live, store, "live-1", PARAMS)
        await restarted.start()  # positions and cash agree with the venue's balances
        final = await live.cancel(cid, BTC)  # nothing open: the order's final state
        assert final is not None and final.status == OrderStatus.FILLED
        assert venue.requests[-2].method == "DELETE"
        assert await live.cancel("al-never-sent", BTC) is None
        await live.close()
        store.close()

    asyncio.run(scenario())
    secrets_seen = [r for r in venue.requests if SECRET in str(r)]
    assert secrets_seen == [] and SECRET not in caplog.text and KEY not in caplog.text


def test_an_order_accepted_then_timed_out_is_not_sent_again(
        credentials: Settings, tmp_path: Path) -> None:
    venue = FakeBinance(accept_then_timeout=1)

    async def scenario() -> None:
        live = broker(venue, credentials)
        store = StateStore(f"sqlite:///{tmp_path / 's.db'}")
        executor = Executor(live, store, "live-1", PARAMS)
        await executor.start()
        fills = await executor.rebalance(BTC, 0.5, 43_000.0, "d0", T0)
        (order,) = store.orders("live-1")
        assert order.status == OrderStatus.FILLED and "RequestTimeout" in (order.last_error
                                                                           or "")
        assert sum(f.quantity for f in fills) == pytest.approx(0.5)
        await executor.rebalance(BTC, 0.5 * 0.999, 43_000.0, "d0", T0)  # already there
        await live.close()
        store.close()

    asyncio.run(scenario())
    (post,) = venue.posts()
    after = venue.requests[venue.requests.index(post) + 1]
    assert (after.method, after.path, after.params["origClientOrderId"]) == (
        "GET", "/api/v3/order", post.params["newClientOrderId"])  # asked, did not resend
    assert len(venue.orders) == 1


def test_failures_and_refusals_map_to_the_broker_contract(
        credentials: Settings, tmp_path: Path) -> None:
    venue = FakeBinance()

    async def scenario() -> None:
        live = broker(venue, credentials)
        assert await live.fetch_order("al-nothing", BTC) is None  # Binance: -2013
        store = StateStore(f"sqlite:///{tmp_path / 's.db'}")
        executor = Executor(live, store, "live-1", PARAMS)
        await executor.start()
        venue.reject_next = True
        with pytest.raises(OrderRejected, match="insufficient balance"):
            await executor.rebalance(BTC, 1.0, 43_000.0, "d0", T0)
        (rejected,) = store.orders("live-1")
        assert rejected.status == OrderStatus.REJECTED and rejected.settled
        venue.fail_queries = True
        for query in (live.fetch_order("al-x", BTC), live.fetch_positions(),
                      live.fetch_balance(), live.fetch_fills("al-x", BTC)):
            with pytest.raises(VenueQueryError, match="503") as failed:
                await query
            assert SECRET not in str(failed.value) and "signature=***" in str(failed.value)
        with pytest.raises(ReconciliationError, match="503"):
            await Executor(live, store, "live-1", PARAMS).start()
        await live.close()
        store.close()

    asyncio.run(scenario())
    assert len(venue.posts()) == 1 and venue.orders == {}
