"""Binance's spot REST API, simulated behind ccxt's HTTP layer (``fetch``) and nothing else.

A real ``ccxt.async_support.binance`` signs and sends requests and parses answers; only the
network is replaced: :class:`FakeBinance` answers each request as Binance's API documents it
(market orders fill at once in two trades; the buyer's commission is taken in the base coin,
the seller's in USDT), and records every request for the tests to inspect. Errors come back
as Binance's HTTP 400 JSON codes and go through ccxt's own error mapping
(``handle_errors``), as with a real response. ``exchangeInfo`` is a saved, trimmed copy
(BTCUSDT and ETHUSDT) in ``data/binance_exchange_info.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ccxt.async_support as ccxt_async
from ccxt.base.errors import ExchangeNotAvailable, RequestTimeout

EXCHANGE_INFO = json.loads((Path(__file__).parent / "data" /
                            "binance_exchange_info.json").read_text())
ASSETS = {s["symbol"]: (s["baseAsset"], s["quoteAsset"]) for s in EXCHANGE_INFO["symbols"]}
NOW_MS = 1_704_067_200_000


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeBinance:
    """The venue's state and its switches for faults."""

    prices: dict[str, float] = field(default_factory=lambda: {"BTCUSDT": 43_000.0,
                                                              "ETHUSDT": 2_300.0})
    balances: dict[str, float] = field(default_factory=lambda: {"USDT": 10_000.0})
    requests: list[Request] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # by clientOrderId
    trades: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # by orderId
    accept_then_timeout: int = 0  # the next n orders are placed, then the answer is lost
    reject_next: bool = False
    fail_queries: bool = False

    def posts(self) -> list[Request]:
        return [r for r in self.requests if (r.method, r.path) == ("POST", "/api/v3/order")]

    def handle(self, method: str, url: str, body: str | None) -> tuple[int, Any]:
        parts = urlsplit(url)
        params = dict(parse_qsl(parts.query)) | dict(parse_qsl(body or ""))
        route = (method, parts.path)
        if route == ("GET", "/api/v3/exchangeInfo"):
            return 200, EXCHANGE_INFO
        if self.fail_queries and method == "GET":
            raise ExchangeNotAvailable(f"binance {method} {url} 503 Service Unavailable")
        if route == ("POST", "/api/v3/order"):
            return self._new_order(params, url)
        if route == ("GET", "/api/v3/order"):
            order = self.orders.get(params.get("origClientOrderId", ""))
            return (200, _public(order)) if order else (400, {"code": -2013,
                                                              "msg": "Order does not exist."})
        if route == ("GET", "/api/v3/myTrades"):
            return 200, self.trades.get(int(params["orderId"]), [])
        if route == ("GET", "/api/v3/account"):
            return 200, {"makerCommission": 10, "takerCommission": 10, "canTrade": True,
                         "updateTime": NOW_MS, "accountType": "SPOT", "permissions": ["SPOT"],
                         "balances": [{"asset": a, "free": f"{v:.8f}", "locked": "0.00000000"}
                                      for a, v in self.balances.items()]}
        if route == ("DELETE", "/api/v3/order"):
            return 400, {"code": -2011, "msg": "Unknown order sent."}  # market orders: filled
        raise AssertionError(f"the fake Binance has no route {method} {parts.path}")

    def _new_order(self, params: dict[str, str], url: str) -> tuple[int, Any]:
        if self.reject_next:
            self.reject_next = False
            return 400, {"code": -2010,
                         "msg": "Account has insufficient balance for requested action."}
        symbol, side, cid = params["symbol"], params["side"], params["newClientOrderId"]
        if cid in self.orders:
            return 400, {"code": -2010, "msg": "Duplicate order sent."}
        quantity, price = float(params["quantity"]), self.prices[symbol]
        order_id = 1000 + len(self.orders)
        base, quote = ASSETS[symbol]
        first = round(quantity * 0.4, 8)
        fills = []
        for i, (qty, px) in enumerate(((first, price), (round(quantity - first, 8),
                                                        price + 1.0))):
            fee = qty * 0.001 if side == "BUY" else qty * px * 0.001
            fee_asset = base if side == "BUY" else quote
            sign = 1.0 if side == "BUY" else -1.0
            self.balances[base] = self.balances.get(base, 0.0) + sign * qty - (
                fee if fee_asset == base else 0.0)
            self.balances[quote] = self.balances.get(quote, 0.0) - sign * qty * px - (
                fee if fee_asset == quote else 0.0)
            fills.append({"symbol": symbol, "id": 5000 + 10 * order_id + i, "orderId": order_id,
                          "orderListId": -1, "price": f"{px:.2f}", "qty": f"{qty:.8f}",
                          "quoteQty": f"{qty * px:.8f}", "commission": f"{fee:.8f}",
                          "commissionAsset": fee_asset, "time": NOW_MS + i,
                          "isBuyer": side == "BUY", "isMaker": False, "isBestMatch": True})
        self.trades[order_id] = fills
        quote_qty = sum(float(f["quoteQty"]) for f in fills)
        self.orders[cid] = {
            "symbol": symbol, "orderId": order_id, "orderListId": -1, "clientOrderId": cid,
            "transactTime": NOW_MS, "price": "0.00000000", "origQty": params["quantity"],
            "executedQty": params["quantity"], "cummulativeQuoteQty": f"{quote_qty:.8f}",
            "status": "FILLED", "timeInForce": "GTC", "type": "MARKET", "side": side,
            "workingTime": NOW_MS, "selfTradePreventionMode": "NONE",
            "fills": [{"price": f["price"], "qty": f["qty"], "commission": f["commission"],
                       "commissionAsset": f["commissionAsset"], "tradeId": f["id"]}
                      for f in fills]}
        if self.accept_then_timeout > 0:
            self.accept_then_timeout -= 1
            raise RequestTimeout(f"binance POST {url}")
        return 200, self.orders[cid]


def _public(order: dict[str, Any]) -> dict[str, Any]:
    """GET /api/v3/order answers without the fills and with the order's times."""
    answer = {k: v for k, v in order.items() if k not in ("fills", "transactTime")}
    return answer | {"stopPrice": "0.00000000", "icebergQty": "0.00000000", "time": NOW_MS,
                     "updateTime": NOW_MS, "isWorking": True,
                     "origQuoteOrderQty": "0.00000000"}


def binance_class(venue: FakeBinance) -> type:
    """``ccxt.async_support.binance`` with only ``fetch`` (the HTTP layer) replaced."""

    class FixtureBinance(ccxt_async.binance):  # type: ignore[misc]
        async def fetch(self, url: str, method: str = "GET", headers: Any = None,
                        body: Any = None) -> Any:
            parts = urlsplit(url)
            venue.requests.append(Request(method, parts.path, dict(parse_qsl(parts.query))
                                          | dict(parse_qsl(body or "")), dict(headers or {})))
            status, payload = venue.handle(method, url, body)
            text = json.dumps(payload)
            reason = "OK" if status == 200 else "Bad Request"
            # what ccxt's own fetch does with a response: its error mapping, then the body
            self.handle_errors(status, reason, url, method, {}, text, payload, headers, body)
            self.handle_http_status_code(status, reason, url, method, text)
            return payload

    return FixtureBinance
