"""Reconciliation of the store's view with the venue's: pure decisions, no I/O.

The executor asks the venue (orders by client order id, their fills, positions, balance) and
hands the answers here; these functions say what changed and what does not add up. Rules:

- A venue answer of "no such order" for an order that may not have reached it
  (``pending_submit``/``unknown``) leaves it ``unknown`` and counts the miss; only after
  ``polls`` consecutive misses spread over at least ``grace_s`` seconds from the first one is
  it ``not_placed`` (a late request is refused by the venue after its receive window, so a
  miss that old is final). The count lives in the store, so it carries across restarts.
- "No such order" for an order the venue had acknowledged is a problem, not a cancel.
- A failed query is never an answer: the caller raises before getting here.
- Fills are facts: new ones are added even when the order's status lags behind; an order is
  *settled* once its status is terminal and its known fills add up to the venue's filled
  quantity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from alphaloop.execution.fills import FillConflict, check_order_fills, new_fills, summarize_fills
from alphaloop.execution.ids import same_quantity
from alphaloop.execution.model import (
    IN_DOUBT_STATUSES,
    TERMINAL_STATUSES,
    Fill,
    OrderIntent,
    OrderStatus,
    VenueOrder,
)


@dataclass(frozen=True)
class NotFoundPolicy:
    """When "no such order" becomes final: ``polls`` misses over at least ``grace_s``."""

    polls: int = 3
    grace_s: float = 60.0

    def __post_init__(self) -> None:
        if self.polls < 1 or self.grace_s < 0:
            raise ValueError("not-found policy needs polls >= 1 and grace_s >= 0")


@dataclass(frozen=True)
class TrackedOrder:
    """An order as the store holds it (its intent plus what is known from the venue)."""

    intent: OrderIntent
    status: OrderStatus
    venue_order_id: str | None = None
    venue_filled_quantity: float = 0.0
    missing_polls: int = 0
    first_missing_at: datetime | None = None

    @property
    def client_order_id(self) -> str:
        return self.intent.client_order_id


@dataclass(frozen=True)
class OrderResolution:
    """What one venue query means for a tracked order.

    Attributes:
        client_order_id: The order.
        status: Its new status.
        venue_order_id: The venue's id, once known.
        venue_filled_quantity: What the venue says is filled.
        new_fills: Fills the store did not have yet.
        missing_polls: Consecutive "no such order" answers (0 once found).
        first_missing_at: Time of the first of those answers.
        settled: Terminal and every fill known: it needs no more queries.
        problem: Why this order does not reconcile (``None`` when it does).
    """

    client_order_id: str
    status: OrderStatus
    venue_order_id: str | None
    venue_filled_quantity: float
    new_fills: tuple[Fill, ...] = ()
    missing_polls: int = 0
    first_missing_at: datetime | None = None
    settled: bool = False
    problem: str | None = None


def resolve_order(order: TrackedOrder, venue: VenueOrder | None, venue_fills: Sequence[Fill],
                  known_fills: Sequence[Fill], now: datetime, policy: NotFoundPolicy,
                  tolerance: float) -> OrderResolution:
    """Combine the store's ``order`` and ``known_fills`` with the venue's answer.

    ``venue`` is ``None`` when the venue said the order does not exist (never for a failed
    query); ``venue_fills`` are the fills the venue reports for it.
    """
    if venue is None:
        return _not_found(order, now, policy)
    intent = order.intent
    base = OrderResolution(client_order_id=intent.client_order_id, status=venue.status,
                           venue_order_id=venue.venue_order_id,
                           venue_filled_quantity=venue.filled_quantity)
    mismatch = _order_mismatch(intent, venue, tolerance)
    if mismatch:
        return _with(base, order, problem=mismatch)
    try:
        fresh = new_fills(known_fills, venue_fills)
        check_order_fills(intent.client_order_id, intent.symbol, intent.side, intent.quantity,
                          [*known_fills, *fresh], tolerance)
    except FillConflict as exc:
        return _with(base, order, problem=str(exc))
    total = summarize_fills([*known_fills, *fresh]).quantity
    settled = (venue.status in TERMINAL_STATUSES
               and same_quantity(total, venue.filled_quantity, tolerance))
    return OrderResolution(client_order_id=intent.client_order_id, status=venue.status,
                           venue_order_id=venue.venue_order_id,
                           venue_filled_quantity=venue.filled_quantity,
                           new_fills=tuple(fresh), settled=settled)


def _with(base: OrderResolution, order: TrackedOrder, problem: str) -> OrderResolution:
    """A resolution that changes nothing but reports ``problem``."""
    return OrderResolution(client_order_id=base.client_order_id, status=order.status,
                           venue_order_id=order.venue_order_id,
                           venue_filled_quantity=order.venue_filled_quantity,
                           missing_polls=order.missing_polls,
                           first_missing_at=order.first_missing_at, problem=problem)


def _order_mismatch(intent: OrderIntent, venue: VenueOrder, tolerance: float) -> str | None:
    if (venue.symbol, venue.side) != (intent.symbol, intent.side) or not same_quantity(
            venue.quantity, intent.quantity, tolerance):
        return (f"order {intent.client_order_id}: the venue reports {venue.side} "
                f"{venue.quantity} {venue.symbol}, we sent {intent.side} {intent.quantity} "
                f"{intent.symbol}")
    if venue.filled_quantity > venue.quantity * (1 + tolerance) + tolerance:
        return (f"order {intent.client_order_id}: the venue reports {venue.filled_quantity} "
                f"filled of {venue.quantity}")
    return None


def _not_found(order: TrackedOrder, now: datetime, policy: NotFoundPolicy) -> OrderResolution:
    cid = order.client_order_id
    if order.status not in IN_DOUBT_STATUSES:
        problem = (f"order {cid} was acknowledged by the venue as {order.status.value} but the "
                   f"venue now says it does not exist")
        return OrderResolution(client_order_id=cid, status=order.status,
                               venue_order_id=order.venue_order_id,
                               venue_filled_quantity=order.venue_filled_quantity,
                               missing_polls=order.missing_polls,
                               first_missing_at=order.first_missing_at, problem=problem)
    polls = order.missing_polls + 1
    first = order.first_missing_at or now
    final = polls >= policy.polls and (now - first).total_seconds() >= policy.grace_s
    return OrderResolution(client_order_id=cid,
                           status=OrderStatus.NOT_PLACED if final else OrderStatus.UNKNOWN,
                           venue_order_id=None, venue_filled_quantity=0.0,
                           missing_polls=polls, first_missing_at=first, settled=final)


@dataclass(frozen=True)
class PositionDifference:
    """A symbol whose quantity differs between the store and the venue."""

    symbol: str
    store: float
    venue: float


def compare_positions(store: Mapping[str, float], venue: Mapping[str, float],
                      tolerance: float) -> list[PositionDifference]:
    """Symbols whose quantities differ beyond ``tolerance`` (missing counts as flat)."""
    differences = []
    for symbol in sorted(set(store) | set(venue)):
        ours, theirs = store.get(symbol, 0.0), venue.get(symbol, 0.0)
        if not same_quantity(ours, theirs, tolerance):
            differences.append(PositionDifference(symbol, ours, theirs))
    return differences


@dataclass
class ReconciliationReport:
    """Everything one reconciliation found; ``ok`` when nothing stands in the way of trading.

    Orders still in doubt (``unknown``, within the not-found grace) do not make it fail: they
    keep their symbol blocked until resolved. Positions or cash that differ, an order the
    venue contradicts, or a query that failed do.
    """

    orders: list[OrderResolution] = field(default_factory=list)
    positions: list[PositionDifference] = field(default_factory=list)
    cash: tuple[float, float] | None = None  # (store, venue) when they differ
    errors: list[str] = field(default_factory=list)
    adopted: bool = False  # a fresh store took the venue's positions and cash as its opening

    @property
    def problems(self) -> list[str]:
        found = list(self.errors)
        found += [o.problem for o in self.orders if o.problem]
        found += [f"position {d.symbol}: store {d.store!r} vs venue {d.venue!r}"
                  for d in self.positions]
        if self.cash is not None:
            found.append(f"cash: store {self.cash[0]!r} vs venue {self.cash[1]!r}")
        return found

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def in_doubt(self) -> list[str]:
        """Client order ids still waiting for the venue to confirm a terminal state."""
        return [o.client_order_id for o in self.orders if not o.settled and not o.problem]

    def describe(self) -> str:
        """One line: what failed, or a summary of what was checked."""
        if not self.ok:
            return "; ".join(self.problems)
        return (f"{len(self.orders)} order(s) checked, {len(self.in_doubt)} still in doubt, "
                f"positions and cash agree" + (" (adopted from the venue)" if self.adopted
                                               else ""))
