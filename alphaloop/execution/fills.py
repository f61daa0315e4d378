"""Fill aggregation: idempotent (deduplicated by ``fill_id``) and independent of order.

Fill reports arrive late, twice, out of order or not at all (a dropped websocket message);
the venue's trade query fills the gaps. Everything here works on the *set* of fills:

- duplicates (same ``fill_id``, same content) count once; the same ``fill_id`` with
  different content is a :class:`FillConflict` (the venue contradicted itself: refuse, do
  not guess);
- sums use :func:`math.fsum` (correctly rounded), so totals do not depend on the order the
  fills arrived in, bit for bit;
- the position's running average price, which does depend on the sequence, is computed in a
  canonical order: by ``timestamp``, then ``fill_id``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from alphaloop.execution.model import Fill, Position


class FillConflict(ValueError):
    """Two reports share a ``fill_id`` but disagree, or a fill does not belong to its order."""


@dataclass(frozen=True)
class FillSummary:
    """Totals of a set of fills (one order's, typically).

    Attributes:
        quantity: Total executed quantity.
        average_price: Volume-weighted price (``None`` when there are no fills).
        fees: Total fees by asset (``quote``, ``base``, ``other``).
        fill_ids: The distinct fill ids, sorted.
    """

    quantity: float
    average_price: float | None
    fees: dict[str, float]
    fill_ids: tuple[str, ...]


def dedupe_fills(fills: Iterable[Fill]) -> list[Fill]:
    """The distinct fills in canonical order (timestamp, then fill_id); conflicts raise."""
    seen: dict[str, Fill] = {}
    for fill in fills:
        known = seen.get(fill.fill_id)
        if known is None:
            seen[fill.fill_id] = fill
        elif known != fill:
            raise FillConflict(f"fill {fill.fill_id} reported twice with different content: "
                               f"{known} vs {fill}")
    return sorted(seen.values(), key=lambda f: (f.timestamp, f.fill_id))


def new_fills(known: Iterable[Fill], reported: Iterable[Fill]) -> list[Fill]:
    """The reported fills not already known (conflicts with known fills raise)."""
    known_by_id = {fill.fill_id: fill for fill in known}
    fresh = []
    for fill in dedupe_fills(reported):
        old = known_by_id.get(fill.fill_id)
        if old is None:
            fresh.append(fill)
        elif old != fill:
            raise FillConflict(f"fill {fill.fill_id} was stored as {old} but is now reported "
                               f"as {fill}")
    return fresh


def summarize_fills(fills: Iterable[Fill]) -> FillSummary:
    """Total quantity, average price, fees and ids of the distinct fills."""
    distinct = dedupe_fills(fills)
    quantity = math.fsum(f.quantity for f in distinct)
    notional = math.fsum(f.quantity * f.price for f in distinct)
    fees = {asset: math.fsum(f.fee for f in distinct if f.fee_asset == asset)
            for asset in ("quote", "base", "other")}
    return FillSummary(quantity=quantity,
                       average_price=notional / quantity if distinct else None,
                       fees=fees, fill_ids=tuple(sorted(f.fill_id for f in distinct)))


def check_order_fills(client_order_id: str, symbol: str, side: str, quantity: float,
                      fills: Sequence[Fill], tolerance: float) -> None:
    """Refuse fills that cannot belong to the order (wrong id, symbol or side, or overfilled)."""
    for fill in fills:
        if (fill.client_order_id, fill.symbol, fill.side) != (client_order_id, symbol, side):
            raise FillConflict(f"fill {fill.fill_id} ({fill.client_order_id} {fill.symbol} "
                               f"{fill.side}) does not belong to order {client_order_id} "
                               f"({symbol} {side})")
    total = math.fsum(f.quantity for f in dedupe_fills(fills))
    if total > quantity * (1 + tolerance) + tolerance:
        raise FillConflict(f"order {client_order_id}: fills total {total!r} exceed the "
                           f"ordered {quantity!r}")


def apply_fill(position: Position, fill: Fill) -> Position:
    """The position after ``fill``: adding keeps a weighted entry price, reducing keeps it,
    crossing zero starts a new one at the fill price."""
    old = position.quantity
    change = fill.position_change
    new = old + change
    if new == 0.0:
        return replace(position, quantity=0.0, average_price=None)
    if old == 0.0 or (old > 0) != (new > 0):
        return replace(position, quantity=new, average_price=fill.price)
    if abs(new) > abs(old):  # adding to the position
        entry = position.average_price
        if entry is None:  # adopted without an entry price: the added part alone is known
            return replace(position, quantity=new, average_price=None)
        average = (abs(old) * entry + abs(change) * fill.price) / abs(new)
        return replace(position, quantity=new, average_price=average)
    return replace(position, quantity=new)


def position_from_fills(opening: Position, fills: Iterable[Fill]) -> Position:
    """The position that ``fills`` (any order, duplicates allowed) make of ``opening``.

    The quantity is ``opening + fsum(changes)``, independent of the order of ``fills``; the
    entry price follows the fills in canonical order.
    """
    distinct = [f for f in dedupe_fills(fills) if f.symbol == opening.symbol]
    position = opening
    for fill in distinct:
        position = apply_fill(position, fill)
    quantity = math.fsum([opening.quantity, *(f.position_change for f in distinct)])
    average = position.average_price if quantity != 0.0 else None
    return replace(position, quantity=quantity, average_price=average)


def cash_from_fills(opening_cash: float, fills: Iterable[Fill]) -> float:
    """Cash after ``fills`` (deduplicated), independent of their order."""
    return math.fsum([opening_cash, *(f.cash_change for f in dedupe_fills(fills))])
