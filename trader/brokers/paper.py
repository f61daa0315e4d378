"""``PaperBroker``: a simulated exchange whose own state lives in its own SQLite file.

It plays the venue's part fully: it keeps its orders, fills, positions and cash across
restarts of the trader, so a trader that is killed and restarted reconciles against it
exactly as against a real exchange.

Fill and cost rules (the backtester's, so a paper run and a backtest of the same targets
agree; see :mod:`alphaloop.backtest.engine`):

- a market order fills completely, at once, at the price last set with :meth:`set_price`
  for its symbol (the bar's close) — no price set yet means the order is rejected;
- ``slippage_mode="cost"`` (default): the fill price is that price and the fill's fee is
  ``(fee_bps + slippage_bps) / 1e4 * (quantity * price)``, in the quote currency (evaluated
  in exactly this order);
  ``slippage_mode="price"``: the price moves against the order by ``slippage_bps``
  (``price * (1 ± slippage_bps / 1e4)``) and the fee is ``fee_bps / 1e4 * (quantity *
  fill price)``;
- cash moves by ``-signed quantity * fill price - fee``; positions may go negative (shorts)
  and cash is not checked against a margin requirement;
- cash and positions are recomputed from all fills with ``math.fsum`` (the state store does
  the same), so both sides agree to the last bit.

A client order id that the venue has already seen is rejected (as exchanges do for open
orders); every submit call is logged in ``submissions`` so tests can count sends.
"""

from __future__ import annotations

import math
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Literal

from alphaloop.execution import Fill, OrderIntent, OrderStatus, VenueOrder
from alphaloop.execution.model import check_utc, signed
from trader.brokers.base import BrokerConfigError, OrderRejected

SlippageMode = Literal["cost", "price"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS config (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS prices (symbol TEXT PRIMARY KEY, price REAL NOT NULL,
    time TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (seq INTEGER PRIMARY KEY AUTOINCREMENT,
    client_order_id TEXT NOT NULL UNIQUE, symbol TEXT NOT NULL, side TEXT NOT NULL,
    quantity REAL NOT NULL, status TEXT NOT NULL, filled_quantity REAL NOT NULL,
    average_price REAL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fills (fill_id TEXT PRIMARY KEY, client_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL, side TEXT NOT NULL, quantity REAL NOT NULL, price REAL NOT NULL,
    fee REAL NOT NULL, timestamp TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_order_id TEXT NOT NULL, outcome TEXT NOT NULL);
"""


class PaperBroker:
    """A simulated venue (see the module docstring for its fill and cost rules).

    Args:
        path: The venue's SQLite file (created with ``initial_cash`` if missing).
        initial_cash: Opening cash of a new venue file.
        quote_currency: Name of the cash currency in :meth:`fetch_balance`.
        fee_bps, slippage_bps: Costs in basis points of traded notional.
        slippage_mode: ``"cost"`` (added to the fee) or ``"price"`` (moves the fill price).
        quantity_step: Lot size orders are rounded down to; ``None`` for any quantity.

    An existing file keeps the settings it was created with; different ones are refused.
    """

    def __init__(self, path: str | Path, *, initial_cash: float = 100_000.0,
                 quote_currency: str = "USD", fee_bps: float = 10.0,
                 slippage_bps: float = 5.0, slippage_mode: SlippageMode = "cost",
                 quantity_step: float | None = None) -> None:
        if not (initial_cash >= 0 and fee_bps >= 0 and slippage_bps >= 0):
            raise BrokerConfigError("paper venue: initial_cash, fee_bps and slippage_bps "
                                    "must be >= 0")
        if slippage_mode not in ("cost", "price"):
            raise BrokerConfigError(f"paper venue: slippage_mode must be cost or price, got "
                                    f"{slippage_mode!r}")
        if quantity_step is not None and not quantity_step > 0:
            raise BrokerConfigError("paper venue: quantity_step must be > 0 or None")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.quote_currency = quote_currency
        self.fee_bps, self.slippage_bps = float(fee_bps), float(slippage_bps)
        self.slippage_mode: SlippageMode = slippage_mode
        self.quantity_step = quantity_step
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._initial_cash = self._check_config(float(initial_cash))

    def __repr__(self) -> str:
        return f"PaperBroker({str(self.path)!r})"

    def _check_config(self, initial_cash: float) -> float:
        wanted = {"quote_currency": self.quote_currency, "fee_bps": repr(self.fee_bps),
                  "slippage_bps": repr(self.slippage_bps), "slippage_mode": self.slippage_mode,
                  "quantity_step": repr(self.quantity_step), "initial_cash": repr(initial_cash)}
        with self._transaction() as db:
            stored = dict(db.execute("SELECT key, value FROM config").fetchall())
            if not stored:
                db.executemany("INSERT INTO config VALUES (?, ?)", wanted.items())
                return initial_cash
        differ = {k: (stored.get(k), v) for k, v in wanted.items()
                  if k != "initial_cash" and stored.get(k) != v}
        if differ:
            raise BrokerConfigError(f"paper venue {self.path} was created with other "
                                    f"settings (stored, given): {differ}")
        return float(stored["initial_cash"])

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    # -- the market ----------------------------------------------------------------------

    def set_price(self, symbol: str, price: float, time: datetime) -> None:
        """The price market orders on ``symbol`` fill at from now on (the bar's close)."""
        if not (math.isfinite(price) and price > 0):
            raise ValueError(f"paper venue: price for {symbol} must be > 0, got {price!r}")
        when = check_utc(time, "price time").isoformat()
        with self._transaction() as db:
            db.execute("INSERT INTO prices VALUES (?, ?, ?) ON CONFLICT(symbol) DO UPDATE "
                       "SET price = excluded.price, time = excluded.time", (symbol, price, when))

    # -- Broker ------------------------------------------------------------------------

    async def normalize_quantity(self, symbol: str, quantity: float) -> float:
        if self.quantity_step is None:
            return quantity
        lots = math.floor(quantity / self.quantity_step + 1e-9)
        return lots * self.quantity_step

    async def submit(self, intent: OrderIntent) -> VenueOrder:
        cid = intent.client_order_id
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM orders WHERE client_order_id = ?", (cid,)).fetchone():
                outcome = "duplicate"
            else:
                row = db.execute("SELECT price, time FROM prices WHERE symbol = ?",
                                 (intent.symbol,)).fetchone()
                outcome = "no price" if row is None else "accepted"
            db.execute("INSERT INTO submissions (client_order_id, outcome) VALUES (?, ?)",
                       (cid, outcome))
            if outcome == "accepted":
                self._fill(db, intent, float(row[0]), row[1])
        if outcome == "duplicate":
            raise OrderRejected(f"paper venue: duplicate client order id {cid}")
        if outcome == "no price":
            raise OrderRejected(f"paper venue: no price set for {intent.symbol}")
        order = self._order(cid)
        if order is None:  # cannot happen: written in the transaction above
            raise RuntimeError(f"paper venue lost order {cid}")
        return order

    def _fill(self, db: sqlite3.Connection, intent: OrderIntent, price: float,
              time: str) -> None:
        if self.slippage_mode == "price":
            direction = 1.0 if intent.side == "buy" else -1.0
            price = price * (1.0 + direction * self.slippage_bps / 1e4)
            fee = self.fee_bps / 1e4 * (intent.quantity * price)
        else:
            fee = (self.fee_bps + self.slippage_bps) / 1e4 * (intent.quantity * price)
        cursor = db.execute(
            "INSERT INTO orders (client_order_id, symbol, side, quantity, status, "
            "filled_quantity, average_price, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (intent.client_order_id, intent.symbol, intent.side, intent.quantity,
             OrderStatus.FILLED.value, intent.quantity, price, time))
        db.execute("INSERT INTO fills VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (f"P{cursor.lastrowid}-1", intent.client_order_id, intent.symbol,
                    intent.side, intent.quantity, price, fee, time))

    async def fetch_order(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        return self._order(client_order_id)

    def _order(self, client_order_id: str) -> VenueOrder | None:
        row = self._db.execute(
            "SELECT seq, symbol, side, quantity, status, filled_quantity, average_price FROM "
            "orders WHERE client_order_id = ?", (client_order_id,)).fetchone()
        if row is None:
            return None
        return VenueOrder(client_order_id=client_order_id, venue_order_id=f"P{row[0]}",
                          symbol=row[1], side=row[2], quantity=row[3],
                          status=OrderStatus(row[4]), filled_quantity=row[5],
                          average_price=row[6])

    async def fetch_fills(self, client_order_id: str, symbol: str) -> list[Fill]:
        rows = self._db.execute("SELECT * FROM fills WHERE client_order_id = ? ORDER BY "
                                "fill_id", (client_order_id,)).fetchall()
        return [_fill_of(row) for row in rows]

    async def fetch_positions(self) -> dict[str, float]:
        totals: dict[str, list[float]] = {}
        for symbol, side, quantity in self._db.execute(
                "SELECT symbol, side, quantity FROM fills"):
            totals.setdefault(symbol, []).append(signed(side, quantity))
        return {symbol: math.fsum(changes) for symbol, changes in sorted(totals.items())}

    async def fetch_balance(self) -> dict[str, float]:
        fills = [_fill_of(row) for row in self._db.execute("SELECT * FROM fills")]
        cash = math.fsum([self._initial_cash, *(f.cash_change for f in fills)])
        return {self.quote_currency: cash}

    async def cancel(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        # Market orders fill on arrival: there is never anything open to cancel.
        return self._order(client_order_id)

    async def close(self) -> None:
        self._db.close()

    # -- the venue's own views (its "web UI"), for reports and tests ---------------------

    def venue_orders(self) -> list[VenueOrder]:
        """Every order the venue holds, in arrival order."""
        rows = self._db.execute("SELECT client_order_id, seq, symbol, side, quantity, status, "
                                "filled_quantity, average_price FROM orders ORDER BY seq")
        return [VenueOrder(client_order_id=r[0], venue_order_id=f"P{r[1]}", symbol=r[2],
                           side=r[3], quantity=r[4], status=OrderStatus(r[5]),
                           filled_quantity=r[6], average_price=r[7]) for r in rows]

    def submissions(self) -> list[tuple[str, str]]:
        """Every submit call received: ``(client_order_id, outcome)``, in order."""
        return list(self._db.execute("SELECT client_order_id, outcome FROM submissions "
                                     "ORDER BY id"))


def _fill_of(row: tuple[str, str, str, str, float, float, float, str]) -> Fill:
    return Fill(fill_id=row[0], client_order_id=row[1], symbol=row[2],
                side=row[3], quantity=row[4], price=row[5],  # type: ignore[arg-type]
                fee=row[6], timestamp=datetime.fromisoformat(row[7]))


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error) on an autocommit
    connection: the venue's state changes all at once or not at all."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
