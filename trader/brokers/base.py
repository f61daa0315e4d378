"""The one interface every venue is reached through, and the errors it speaks.

The executor's safety rests on three promises each broker keeps:

- ``submit`` either returns the venue's acknowledgement, raises :class:`OrderRejected` when
  the venue definitely did not take the order, or raises :class:`SubmitTimeout` for anything
  in between ("it may or may not be there": the executor then asks by client order id);
- ``fetch_order`` returns ``None`` only when the venue *answered* that the order does not
  exist; a query that fails raises :class:`VenueQueryError`, never returns "nothing";
- ``fetch_positions``/``fetch_balance`` raise :class:`VenueQueryError` rather than return an
  empty ("flat") answer they did not get.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from alphaloop.execution import Fill, OrderIntent, VenueOrder


class BrokerError(RuntimeError):
    """Base class of broker errors."""


class SubmitTimeout(BrokerError):
    """The submit's outcome is unknown: the venue may or may not hold the order."""


class OrderRejected(BrokerError):
    """The venue answered and did not accept the order (nothing was placed)."""


class VenueQueryError(BrokerError):
    """A query could not be answered (network, venue error): it says nothing about state."""


class BrokerConfigError(BrokerError):
    """The broker cannot be built as configured (missing credentials, unknown exchange...)."""


@runtime_checkable
class Broker(Protocol):
    """A venue: paper (:class:`~trader.brokers.paper.PaperBroker`) or live
    (:class:`~trader.brokers.ccxt_broker.CcxtBroker`).

    ``quote_currency`` names the currency cash is held in (``fetch_balance``'s key for it).
    Symbols are passed to every order query because venues such as Binance need them.
    """

    quote_currency: str

    async def normalize_quantity(self, symbol: str, quantity: float) -> float:
        """``quantity`` rounded (down) to what the venue accepts; 0.0 if below its minimum."""
        ...

    async def submit(self, intent: OrderIntent) -> VenueOrder:
        """Send a market order carrying ``intent.client_order_id``; see the module docstring."""
        ...

    async def fetch_order(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        """The order by our id, or ``None`` if the venue says it does not exist."""
        ...

    async def fetch_fills(self, client_order_id: str, symbol: str) -> list[Fill]:
        """Every execution of the order (empty if it has none or does not exist)."""
        ...

    async def fetch_positions(self) -> dict[str, float]:
        """Signed quantity per symbol the venue holds for the account."""
        ...

    async def fetch_balance(self) -> dict[str, float]:
        """Total balance per currency (the quote currency is the trader's cash)."""
        ...

    async def cancel(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        """Cancel an open order; returns its final state (``None``: no such order)."""
        ...

    async def close(self) -> None:
        """Release connections and files."""
        ...
