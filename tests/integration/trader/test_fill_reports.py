"""Property: however fill reports arrive (shuffled, duplicated, dropped), the executor ends
with the venue's fills: quantity, average price, fill ids, position and cash."""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alphaloop.execution import (
    Fill,
    OrderIntent,
    OrderStatus,
    VenueOrder,
    cash_from_fills,
    summarize_fills,
)
from tests.integration.trader.conftest import T0
from trader.executor import Executor
from trader.store import StateStore

pytestmark = pytest.mark.integration
SYMBOL = "BTC/USD"


class ScriptedVenue:
    """A venue that acknowledges a market order as open and executes it later, in parts."""

    quote_currency = "USD"

    def __init__(self) -> None:
        self.orders: dict[str, VenueOrder] = {}
        self.trades: dict[str, list[Fill]] = {}

    def execute(self, cid: str, fills: list[Fill]) -> None:
        order = self.orders[cid]
        self.trades[cid] = fills
        total = summarize_fills(fills)
        self.orders[cid] = VenueOrder(cid, order.venue_order_id, order.symbol, order.side,
                                      order.quantity, OrderStatus.FILLED, total.quantity,
                                      total.average_price)

    async def normalize_quantity(self, symbol: str, quantity: float) -> float:
        return quantity

    async def submit(self, intent: OrderIntent) -> VenueOrder:
        order = VenueOrder(intent.client_order_id, f"V{len(self.orders)}", intent.symbol,
                           intent.side, intent.quantity, OrderStatus.OPEN)
        self.orders[intent.client_order_id] = order
        return order

    async def fetch_order(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        return self.orders.get(client_order_id)

    async def fetch_fills(self, client_order_id: str, symbol: str) -> list[Fill]:
        return list(self.trades.get(client_order_id, []))

    async def fetch_positions(self) -> dict[str, float]:
        return {SYMBOL: math.fsum(f.position_change for fs in self.trades.values()
                                  for f in fs)}

    async def fetch_balance(self) -> dict[str, float]:
        return {"USD": cash_from_fills(1e6, [f for fs in self.trades.values() for f in fs])}

    async def cancel(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        return self.orders.get(client_order_id)

    async def close(self) -> None:
        return None


@st.composite
def executions(draw: st.DrawFn) -> tuple[list[tuple[float, float, float]], list[int], list[int]]:
    """Parts (share of the order, price, fee), copies of each report (0 = dropped), and the
    order the reports arrive in."""
    n = draw(st.integers(1, 12))
    parts = [(draw(st.floats(0.05, 1.0)), draw(st.floats(100.0, 200.0)),
              draw(st.floats(0.0, 1.0))) for _ in range(n)]
    copies = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    arrival = draw(st.permutations([i for i, k in enumerate(copies) for _ in range(k)]))
    return parts, copies, arrival


@settings(max_examples=60, deadline=None)
@given(case=executions(), before_poll=st.booleans())
def test_noisy_fill_reports_reconcile_to_the_venue(
        case: tuple[list[tuple[float, float, float]], list[int], list[int]],
        before_poll: bool) -> None:
    parts, _, arrival = case

    async def scenario() -> None:
        store, venue = StateStore("sqlite://"), ScriptedVenue()
        executor = Executor(venue, store, "acct")
        await executor.start()
        total = math.fsum(share for share, _, _ in parts)
        await executor.rebalance(SYMBOL, total, 150.0, "d0", T0)
        (order,) = store.orders("acct")
        assert order.status == OrderStatus.OPEN and not order.settled
        cid = order.client_order_id
        truth = [Fill(f"T{i}", cid, SYMBOL, "buy", share, price, fee,
                      T0 + timedelta(seconds=i)) for i, (share, price, fee) in enumerate(parts)]
        venue.execute(cid, truth)
        stream = [truth[i] for i in arrival]
        if before_poll:  # reports pushed (websocket) before the venue is polled
            await executor.ingest_fills(stream)
            await executor.poll()
        else:  # reports straggling in after the poll has recovered everything
            await executor.poll()
            assert await executor.ingest_fills(stream) == []
        settled = store.order(cid)
        assert settled is not None and settled.settled
        want = summarize_fills(truth)
        assert settled.filled_quantity == want.quantity
        assert settled.average_price == want.average_price
        assert tuple(sorted(f.fill_id for f in store.fills("acct", cid))) == want.fill_ids
        assert executor.position(SYMBOL).quantity == (await venue.fetch_positions())[SYMBOL]
        assert executor.cash() == (await venue.fetch_balance())["USD"]
        store.close()

    asyncio.run(scenario())
