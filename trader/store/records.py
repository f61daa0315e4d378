"""What the store hands out (orders, decisions, equity) and the row conversions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alphaloop.execution import Fill, OrderIntent, OrderStatus, TrackedOrder
from trader.store.tables import DecisionRow, FillRow, OrderRow


@dataclass(frozen=True)
class StoredOrder:
    """An order as the store holds it.

    ``filled_quantity`` and ``average_price`` come from the stored fills;
    ``venue_filled_quantity`` is what the venue last said. ``settled``: terminal with every
    fill stored, so it needs no more venue queries.
    """

    intent: OrderIntent
    account: str
    status: OrderStatus
    settled: bool
    venue_order_id: str | None
    venue_filled_quantity: float
    filled_quantity: float
    average_price: float | None
    submitted_at: datetime | None
    missing_polls: int
    first_missing_at: datetime | None
    last_error: str | None

    @property
    def client_order_id(self) -> str:
        return self.intent.client_order_id

    def tracked(self) -> TrackedOrder:
        """The part :func:`alphaloop.execution.resolve_order` works on."""
        return TrackedOrder(intent=self.intent, status=self.status,
                            venue_order_id=self.venue_order_id,
                            venue_filled_quantity=self.venue_filled_quantity,
                            missing_polls=self.missing_polls,
                            first_missing_at=self.first_missing_at)


@dataclass(frozen=True)
class Decision:
    """A recorded decision: its bar, symbol, inputs and outputs (JSON)."""

    decision_id: str
    bar_time: datetime
    symbol: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    recorded_at: datetime


@dataclass(frozen=True)
class EquitySnapshot:
    time: datetime
    equity: float
    cash: float
    positions: dict[str, float]
    prices: dict[str, float]


def fill_of(row: FillRow) -> Fill:
    return Fill(fill_id=row.fill_id, client_order_id=row.client_order_id, symbol=row.symbol,
                side=row.side, quantity=row.quantity, price=row.price,  # type: ignore[arg-type]
                fee=row.fee, timestamp=row.timestamp, fee_asset=row.fee_asset)  # type: ignore[arg-type]


def fill_row(account: str, fill: Fill, now: datetime) -> FillRow:
    return FillRow(fill_id=fill.fill_id, client_order_id=fill.client_order_id, account=account,
                   symbol=fill.symbol, side=fill.side, quantity=fill.quantity,
                   price=fill.price, fee=fill.fee, fee_asset=fill.fee_asset,
                   timestamp=fill.timestamp, recorded_at=now)


def order_of(row: OrderRow) -> StoredOrder:
    intent = OrderIntent(intent_id=row.intent_id, client_order_id=row.client_order_id,
                         symbol=row.symbol, side=row.side,  # type: ignore[arg-type]
                         quantity=row.quantity, reference_price=row.reference_price,
                         created_at=row.created_at, decision_id=row.decision_id,
                         bar_time=row.bar_time, sequence=row.sequence)
    return StoredOrder(intent=intent, account=row.account, status=OrderStatus(row.status),
                       settled=row.settled, venue_order_id=row.venue_order_id,
                       venue_filled_quantity=row.venue_filled_quantity,
                       filled_quantity=row.filled_quantity, average_price=row.average_price,
                       submitted_at=row.submitted_at, missing_polls=row.missing_polls,
                       first_missing_at=row.first_missing_at, last_error=row.last_error)


def decision_of(row: DecisionRow) -> Decision:
    return Decision(decision_id=row.decision_id, bar_time=row.bar_time, symbol=row.symbol,
                    inputs=row.inputs, outputs=row.outputs, recorded_at=row.recorded_at)
