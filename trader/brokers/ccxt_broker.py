"""``CcxtBroker``: a live exchange through ccxt's unified async API (spot markets).

- Credentials come only from the environment: ``ALPHALOOP_EXCHANGE_API_KEY``,
  ``ALPHALOOP_EXCHANGE_API_SECRET`` (and ``ALPHALOOP_EXCHANGE_API_PASSWORD`` for venues with
  a passphrase), read through :class:`alphaloop.config.Settings`. Without them the broker
  refuses to be built. They are never logged: ``repr`` omits them and error messages are
  scrubbed of them (and of request signatures).
- Every order is a market order carrying our client order id (ccxt's unified
  ``clientOrderId`` param; Binance receives it as ``newClientOrderId``), its amount rounded
  down to the market's precision by ccxt's ``amount_to_precision``.
- Submit errors are sorted conservatively: only an answer that the order was refused
  (invalid order, insufficient funds, bad request, authentication) is
  :class:`OrderRejected`; timeouts, network errors and anything else are
  :class:`SubmitTimeout` ("unknown": the executor asks by client order id before retrying).
- Queries raise :class:`VenueQueryError` on any failure; ``fetch_order`` returns ``None``
  only on the venue's "order does not exist" (``ccxt.OrderNotFound``).
- Positions are the account's total balances of the base currencies of ``symbols``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import ccxt.async_support as ccxt_async
from ccxt.base.errors import (
    AuthenticationError,
    BadRequest,
    BaseError,
    DuplicateOrderId,
    InsufficientFunds,
    InvalidOrder,
    OperationRejected,
    OrderNotFound,
)

from alphaloop.config import Settings
from alphaloop.execution import Fill, OrderIntent, OrderStatus, VenueOrder
from alphaloop.execution.model import FeeAsset
from trader.brokers.base import (
    BrokerConfigError,
    OrderRejected,
    SubmitTimeout,
    VenueQueryError,
)

_REFUSED = (InsufficientFunds, InvalidOrder, BadRequest, AuthenticationError,
            OperationRejected)
_STATUS = {"closed": OrderStatus.FILLED, "canceled": OrderStatus.CANCELED,
           "expired": OrderStatus.CANCELED, "rejected": OrderStatus.REJECTED}
_SIGNATURE = re.compile(r"(signature=)[0-9a-fA-F]+")


class CcxtBroker:
    """A ccxt exchange as a :class:`~trader.brokers.Broker` (see the module docstring).

    Args:
        exchange_id: ccxt exchange id (``binance``, ``kraken``, ...).
        symbols: Unified symbols traded (``BTC/USDT``); they must share ``quote_currency``.
        quote_currency: The currency cash is held in.
        settings: Where the credentials come from (default: ``Settings()``, the environment).
        exchange_options: ccxt ``options`` for the exchange (e.g. Binance's
            ``{"fetchCurrencies": False}`` to skip an endpoint the trader does not need).
        timeout_ms: ccxt's HTTP timeout; a submit running past it is ``unknown``.
        exchange_class: A ccxt exchange class to use instead of
            ``ccxt.async_support.<exchange_id>`` (tests pass one with its HTTP layer replaced).
    """

    def __init__(self, exchange_id: str, symbols: list[str], *, quote_currency: str = "USDT",
                 settings: Settings | None = None,
                 exchange_options: dict[str, Any] | None = None, timeout_ms: int = 10_000,
                 exchange_class: type | None = None) -> None:
        settings = settings or Settings()
        key, secret = settings.exchange_api_key, settings.exchange_api_secret
        if key is None or secret is None or not key.get_secret_value() \
                or not secret.get_secret_value():
            raise BrokerConfigError(
                "live trading needs credentials from the environment: set "
                "ALPHALOOP_EXCHANGE_API_KEY and ALPHALOOP_EXCHANGE_API_SECRET")
        cls = exchange_class or getattr(ccxt_async, exchange_id, None)
        if cls is None:
            raise BrokerConfigError(f"ccxt has no exchange {exchange_id!r}")
        config: dict[str, Any] = {
            "apiKey": key.get_secret_value(), "secret": secret.get_secret_value(),
            "enableRateLimit": True, "timeout": timeout_ms,
            "options": {"defaultType": "spot", **(exchange_options or {})}}
        password = settings.exchange_api_password
        if password is not None:
            config["password"] = password.get_secret_value()
        self._secrets = [v for v in (config["apiKey"], config["secret"],
                                     config.get("password")) if v]
        self.exchange: Any = cls(config)
        self.exchange_id, self.symbols = exchange_id, list(symbols)
        self.quote_currency = quote_currency

    def __repr__(self) -> str:
        return f"CcxtBroker({self.exchange_id!r}, symbols={self.symbols!r})"

    def _scrub(self, exc: BaseException) -> str:
        text = _SIGNATURE.sub(r"\1***", f"{type(exc).__name__}: {exc}")
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def _markets(self) -> dict[str, Any]:
        try:
            markets: dict[str, Any] = await self.exchange.load_markets()
        except BaseError as exc:
            raise VenueQueryError(f"{self.exchange_id}: load_markets failed: "
                                  f"{self._scrub(exc)}") from exc
        for symbol in self.symbols:
            market = markets.get(symbol)
            if market is None:
                raise BrokerConfigError(f"{self.exchange_id} has no market {symbol!r}")
            if market["quote"] != self.quote_currency:
                raise BrokerConfigError(f"{symbol} is quoted in {market['quote']}, not the "
                                        f"broker's quote currency {self.quote_currency}")
        return markets

    async def normalize_quantity(self, symbol: str, quantity: float) -> float:
        markets = await self._markets()
        try:
            rounded = float(self.exchange.amount_to_precision(symbol, quantity))
        except InvalidOrder:  # ccxt: below the smallest representable amount
            return 0.0
        minimum = (markets[symbol].get("limits", {}).get("amount", {}) or {}).get("min")
        return 0.0 if minimum is not None and rounded < minimum else rounded

    async def submit(self, intent: OrderIntent) -> VenueOrder:
        await self._markets()
        params = {"clientOrderId": intent.client_order_id}
        try:
            raw = await self.exchange.create_order(intent.symbol, "market", intent.side,
                                                   intent.quantity, None, params)
        except DuplicateOrderId as exc:  # the venue holds this id: find out what it is
            raise SubmitTimeout(self._scrub(exc)) from exc
        except _REFUSED as exc:
            raise OrderRejected(self._scrub(exc)) from exc
        except BaseError as exc:
            raise SubmitTimeout(self._scrub(exc)) from exc
        return self._venue_order(raw, intent.client_order_id, intent.symbol)

    async def fetch_order(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        await self._markets()
        try:
            raw = await self.exchange.fetch_order(None, symbol,
                                                  {"clientOrderId": client_order_id})
        except OrderNotFound:
            return None
        except BaseError as exc:
            raise VenueQueryError(f"fetch_order {client_order_id}: {self._scrub(exc)}") from exc
        return self._venue_order(raw, client_order_id, symbol)

    async def fetch_fills(self, client_order_id: str, symbol: str) -> list[Fill]:
        order = await self.fetch_order(client_order_id, symbol)
        if order is None or order.venue_order_id is None:
            return []
        try:
            trades = await self.exchange.fetch_order_trades(order.venue_order_id, symbol)
        except BaseError as exc:
            raise VenueQueryError(f"fetch_order_trades {client_order_id}: "
                                  f"{self._scrub(exc)}") from exc
        market = self.exchange.market(symbol)
        return [self._fill(t, client_order_id, market) for t in trades
                if str(t.get("order")) == order.venue_order_id]

    async def fetch_positions(self) -> dict[str, float]:
        markets = await self._markets()
        totals = await self._totals()
        return {s: float(totals.get(markets[s]["base"]) or 0.0) for s in self.symbols}

    async def fetch_balance(self) -> dict[str, float]:
        return {c: float(v) for c, v in (await self._totals()).items() if v is not None}

    async def _totals(self) -> dict[str, Any]:
        try:
            balance = await self.exchange.fetch_balance()
        except BaseError as exc:
            raise VenueQueryError(f"fetch_balance: {self._scrub(exc)}") from exc
        totals: dict[str, Any] = balance.get("total") or {}
        return totals

    async def cancel(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        await self._markets()
        try:
            await self.exchange.cancel_order(None, symbol, {"clientOrderId": client_order_id})
        except OrderNotFound:
            pass  # not open (filled, canceled) or unknown: the query below says which
        except BaseError as exc:
            raise VenueQueryError(f"cancel {client_order_id}: {self._scrub(exc)}") from exc
        return await self.fetch_order(client_order_id, symbol)

    async def close(self) -> None:
        await self.exchange.close()

    def _venue_order(self, raw: dict[str, Any], client_order_id: str,
                     symbol: str) -> VenueOrder:
        echoed = raw.get("clientOrderId")
        if echoed not in (None, client_order_id) or raw.get("symbol") not in (None, symbol):
            raise VenueQueryError(f"asked for {client_order_id} on {symbol}, the venue "
                                  f"answered for {echoed} on {raw.get('symbol')}")
        filled = float(raw.get("filled") or 0.0)
        status = _STATUS.get(raw.get("status") or "open")
        if status is None:  # open, or a status ccxt does not map: not final yet
            status = OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.OPEN
        return VenueOrder(client_order_id=client_order_id,
                          venue_order_id=None if raw.get("id") is None else str(raw["id"]),
                          symbol=symbol, side=raw["side"], quantity=float(raw["amount"]),
                          status=status, filled_quantity=filled,
                          average_price=raw.get("average"))

    def _fill(self, trade: dict[str, Any], client_order_id: str,
              market: dict[str, Any]) -> Fill:
        fees = [f for f in (trade.get("fees") or [trade.get("fee")]) if f and f.get("cost")]
        currencies = {f["currency"] for f in fees}
        if len(currencies) > 1:
            raise VenueQueryError(f"trade {trade['id']} charged fees in several currencies "
                                  f"{sorted(currencies)}; one is supported")
        currency = currencies.pop() if currencies else self.quote_currency
        asset: FeeAsset = ("quote" if currency == market["quote"]
                           else "base" if currency == market["base"] else "other")
        return Fill(fill_id=f"{market['id']}-{trade['id']}", client_order_id=client_order_id,
                    symbol=market["symbol"], side=trade["side"], quantity=float(trade["amount"]),
                    price=float(trade["price"]), fee=sum(float(f["cost"]) for f in fees),
                    timestamp=datetime.fromtimestamp(trade["timestamp"] / 1000, UTC),
                    fee_asset=asset)
