"""What the execution layer talks about: order intents, venue orders, fills, positions.

Pure values with their invariants checked at construction; no I/O. Quantities are in base
units (e.g. BTC), prices and cash in the quote currency (e.g. USDT), times are timezone-aware
UTC ``datetime`` values (a naive time is refused: it cannot be placed on the venue's clock).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

Side = Literal["buy", "sell"]
FeeAsset = Literal["quote", "base", "other"]


class OrderStatus(StrEnum):
    """An order's state, as the store knows it.

    ``pending_submit``: the intent and its client order id are committed; it may or may not
    have reached the venue (a crash can fall between the commit and the send).
    ``unknown``: a send was attempted (or the venue could not find it yet); the venue must be
    asked by client order id before anything else is sent for this symbol.
    ``open`` / ``partially_filled`` / ``filled`` / ``canceled`` / ``rejected``: the venue's
    answer. ``not_placed``: the venue answered "no such order" on ``not_found_polls``
    consecutive queries spread over at least ``not_found_grace_s`` seconds, so it never
    received it (a terminal state of our own).
    """

    PENDING_SUBMIT = "pending_submit"
    UNKNOWN = "unknown"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    NOT_PLACED = "not_placed"


TERMINAL_STATUSES = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED,
                               OrderStatus.NOT_PLACED})
VENUE_STATUSES = frozenset({OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED,
                            OrderStatus.CANCELED, OrderStatus.REJECTED})
# States in which the venue may or may not hold the order: ask before sending anything else.
IN_DOUBT_STATUSES = frozenset({OrderStatus.PENDING_SUBMIT, OrderStatus.UNKNOWN})


def check_utc(value: datetime, what: str) -> datetime:
    """``value`` converted to UTC; a naive datetime is refused (its zone is a guess)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _check_side(side: str, what: str) -> None:
    if side not in ("buy", "sell"):
        raise ValueError(f"{what}: side must be 'buy' or 'sell', got {side!r}")


def _check_positive(value: float, what: str) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{what} must be a finite number > 0, got {value!r}")


def signed(side: Side, quantity: float) -> float:
    """``quantity`` with the sign of its side: buys add to a position, sells subtract."""
    return quantity if side == "buy" else -quantity


@dataclass(frozen=True)
class OrderIntent:
    """A market order the trader has decided to place, committed before it is sent.

    Attributes:
        intent_id: Readable key ``account:symbol:bar_time:sequence``.
        client_order_id: Our id for the venue (see :func:`client_order_id`); the venue is
            asked by it after a crash or a timeout.
        symbol: Market symbol as the broker names it (``BTC/USDT`` for ccxt).
        side: ``"buy"`` or ``"sell"``.
        quantity: Base units, > 0, already rounded to the venue's precision.
        reference_price: The price the decision saw (the bar's close).
        created_at: When the intent was committed.
        decision_id: The decision that caused it (``None`` for a manual order).
        bar_time: Close time of the bar the decision was made on.
        sequence: 0 for the bar's first order on this symbol, then 1, 2, ...
    """

    intent_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    reference_price: float
    created_at: datetime
    decision_id: str | None
    bar_time: datetime
    sequence: int = 0

    def __post_init__(self) -> None:
        _check_side(self.side, f"intent {self.intent_id}")
        _check_positive(self.quantity, f"intent {self.intent_id}: quantity")
        _check_positive(self.reference_price, f"intent {self.intent_id}: reference_price")
        object.__setattr__(self, "created_at", check_utc(self.created_at, "created_at"))
        object.__setattr__(self, "bar_time", check_utc(self.bar_time, "bar_time"))
        if self.sequence < 0:
            raise ValueError(f"intent {self.intent_id}: sequence must be >= 0")


@dataclass(frozen=True)
class VenueOrder:
    """An order as the venue reports it.

    Attributes:
        client_order_id: Our id, echoed by the venue.
        venue_order_id: The venue's own id (``None`` if it has not given one).
        symbol: Market symbol.
        side: ``"buy"`` or ``"sell"``.
        quantity: Amount ordered, base units.
        status: One of :data:`VENUE_STATUSES`.
        filled_quantity: Amount executed so far, base units.
        average_price: Volume-weighted fill price (``None`` while nothing is filled).
    """

    client_order_id: str
    venue_order_id: str | None
    symbol: str
    side: Side
    quantity: float
    status: OrderStatus
    filled_quantity: float = 0.0
    average_price: float | None = None

    def __post_init__(self) -> None:
        _check_side(self.side, f"venue order {self.client_order_id}")
        if self.status not in VENUE_STATUSES:
            raise ValueError(f"venue order {self.client_order_id}: status {self.status!r} is "
                             f"not a venue status")
        if not (math.isfinite(self.filled_quantity) and self.filled_quantity >= 0):
            raise ValueError(f"venue order {self.client_order_id}: filled_quantity must be >= 0")


@dataclass(frozen=True)
class Fill:
    """One execution (trade) of an order.

    Attributes:
        fill_id: The venue's unique id for this execution; fills are deduplicated by it.
        client_order_id: The order it belongs to.
        symbol: Market symbol.
        side: ``"buy"`` or ``"sell"``.
        quantity: Base units executed, > 0.
        price: Execution price.
        fee: Fee paid, in units of ``fee_asset``.
        timestamp: Execution time.
        fee_asset: ``"quote"`` (reduces cash), ``"base"`` (reduces the position: spot venues
            often take the buyer's fee in the bought coin) or ``"other"`` (a third currency
            such as BNB: neither cash nor position changes; it is recorded only).
    """

    fill_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    fee: float
    timestamp: datetime
    fee_asset: FeeAsset = "quote"

    def __post_init__(self) -> None:
        _check_side(self.side, f"fill {self.fill_id}")
        _check_positive(self.quantity, f"fill {self.fill_id}: quantity")
        _check_positive(self.price, f"fill {self.fill_id}: price")
        if not (math.isfinite(self.fee) and self.fee >= 0):
            raise ValueError(f"fill {self.fill_id}: fee must be a finite number >= 0")
        if self.fee_asset not in ("quote", "base", "other"):
            raise ValueError(f"fill {self.fill_id}: fee_asset must be quote, base or other")
        object.__setattr__(self, "timestamp", check_utc(self.timestamp, "fill timestamp"))

    @property
    def position_change(self) -> float:
        """Signed change of the position in base units (a base-currency fee reduces it)."""
        fee = self.fee if self.fee_asset == "base" else 0.0
        return signed(self.side, self.quantity) - fee

    @property
    def cash_change(self) -> float:
        """Signed change of cash: ``-signed quantity * price``, minus a quote-currency fee."""
        fee = self.fee if self.fee_asset == "quote" else 0.0
        return -signed(self.side, self.quantity) * self.price - fee


@dataclass(frozen=True)
class Position:
    """A signed holding: ``quantity`` > 0 long, < 0 short.

    ``average_price`` is the volume-weighted entry price of the open quantity, ``None`` when
    flat or when the position was adopted from a venue that does not report entry prices.
    """

    symbol: str
    quantity: float = 0.0
    average_price: float | None = None
