"""Small builders for execution values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alphaloop.execution import Fill, OrderIntent, client_order_id, intent_id

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make_intent(quantity: float = 1.0, side: str = "buy", symbol: str = "BTC/USDT",
                sequence: int = 0, bar: int = 0) -> OrderIntent:
    bar_time = T0 + timedelta(minutes=15 * bar)
    return OrderIntent(intent_id=intent_id("acct", symbol, bar_time, sequence),
                       client_order_id=client_order_id("acct", symbol, bar_time, sequence),
                       symbol=symbol, side=side, quantity=quantity,  # type: ignore[arg-type]
                       reference_price=100.0, created_at=bar_time, decision_id="d",
                       bar_time=bar_time, sequence=sequence)


def make_fill(cid: str, fill_id: str, quantity: float, price: float, side: str = "buy",
              symbol: str = "BTC/USDT", seconds: int = 0, fee: float = 0.0) -> Fill:
    return Fill(fill_id=fill_id, client_order_id=cid, symbol=symbol, side=side,  # type: ignore[arg-type]
                quantity=quantity, price=price, fee=fee,
                timestamp=T0 + timedelta(seconds=seconds))
