"""The paper venue: the backtester's cost model, its own persistent state, refusals."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from alphaloop.execution import OrderStatus
from tests.integration.trader.conftest import T0, paper
from tests.unit.execution.conftest import make_intent
from trader.brokers import Broker, BrokerConfigError, OrderRejected
from trader.brokers.paper import PaperBroker

pytestmark = pytest.mark.integration


def test_market_orders_fill_at_the_bar_price_with_cost_on_notional(venue_path: Path) -> None:
    async def scenario() -> None:
        venue = paper(venue_path)
        assert isinstance(venue, Broker)
        venue.set_price("BTC/USDT", 50_000.0, T0)
        buy = make_intent(quantity=0.4)
        order = await venue.submit(buy)
        assert (order.status, order.filled_quantity, order.average_price) == (
            OrderStatus.FILLED, 0.4, 50_000.0)
        (fill,) = await venue.fetch_fills(buy.client_order_id, "BTC/USDT")
        notional = 0.4 * 50_000.0
        assert fill.price == 50_000.0 and fill.fee == (10.0 + 5.0) / 1e4 * notional
        assert await venue.fetch_positions() == {"BTC/USDT": 0.4}
        assert await venue.fetch_balance() == {"USD": 100_000.0 - notional - 30.0}
        venue.set_price("BTC/USDT", 51_000.0, T0)
        await venue.submit(make_intent(quantity=0.6, side="sell", sequence=1))
        assert await venue.fetch_positions() == {"BTC/USDT": pytest.approx(-0.2)}
        await venue.close()
        # the venue's state is its own file: a new process sees the same account
        again = paper(venue_path)
        assert await again.fetch_positions() == {"BTC/USDT": pytest.approx(-0.2)}
        assert next(o.client_order_id for o in again.venue_orders()) == buy.client_order_id
        await again.close()

    asyncio.run(scenario())


def test_price_slippage_mode_moves_the_fill_price(venue_path: Path) -> None:
    async def scenario() -> None:
        venue = PaperBroker(venue_path, fee_bps=10.0, slippage_bps=5.0, slippage_mode="price")
        venue.set_price("BTC/USDT", 100.0, T0)
        sell = make_intent(quantity=2.0, side="sell")
        await venue.submit(sell)
        (fill,) = await venue.fetch_fills(sell.client_order_id, "BTC/USDT")
        assert fill.price == pytest.approx(100.0 * (1 - 5e-4))
        assert fill.fee == pytest.approx(10.0 / 1e4 * 2.0 * fill.price)

    asyncio.run(scenario())


def test_refusals(venue_path: Path) -> None:
    async def scenario() -> None:
        venue = paper(venue_path)
        intent = make_intent()
        with pytest.raises(OrderRejected, match="no price"):
            await venue.submit(intent)
        venue.set_price("BTC/USDT", 100.0, T0)
        await venue.submit(make_intent(sequence=1))
        with pytest.raises(OrderRejected, match="duplicate"):
            await venue.submit(make_intent(sequence=1))
        assert [outcome for _, outcome in venue.submissions()] == [
            "no price", "accepted", "duplicate"]
        assert len(venue.venue_orders()) == 1
        assert await venue.fetch_order("al-unknown", "BTC/USDT") is None
        assert await venue.cancel("al-unknown", "BTC/USDT") is None
        filled = await venue.cancel(make_intent(sequence=1).client_order_id, "BTC/USDT")
        assert filled is not None and filled.status == OrderStatus.FILLED  # nothing open
        with pytest.raises(ValueError, match="price"):
            venue.set_price("BTC/USDT", 0.0, T0)
        await venue.close()
        with pytest.raises(BrokerConfigError, match="fee_bps"):
            PaperBroker(venue_path, fee_bps=20.0, slippage_bps=5.0)

    asyncio.run(scenario())


def test_quantity_step_rounds_down(venue_path: Path) -> None:
    venue = PaperBroker(venue_path, quantity_step=0.001)
    assert asyncio.run(venue.normalize_quantity("BTC/USDT", 0.12345)) == pytest.approx(0.123)
    assert asyncio.run(venue.normalize_quantity("BTC/USDT", 0.0004)) == 0.0
