"""``Executor``: turns target positions into venue orders, crash-safely, for any broker.

Guarantees (each shown by a test in ``tests/integration/trader``):

- **Intent before send.** An order's intent and deterministic client order id are committed
  to the store before the broker is called, so a crash at any point leaves a record of
  everything that may have reached the venue.
- **Ask before acting.** An order whose outcome is not known (``pending_submit`` after a
  crash, ``unknown`` after a submit timeout) is looked up at the venue by client order id
  before anything else is sent for its symbol. One intent is never two venue orders: an
  intent is sent at most once; a later order for the same bar gets a new sequence number.
- **Reconcile before trading.** :meth:`start` queries every unsettled order and the venue's
  positions and cash; until it succeeds, or after it fails, every order is refused with the
  reason (:class:`TradingHalted`).
- **A contradiction stops trading.** A venue answer that contradicts the store (an
  acknowledged order it no longer knows, another side or size, more fills than ordered)
  halts the executor with the reason, in :meth:`start` or at any later query.
- **A failed query is not an answer.** :class:`~trader.brokers.VenueQueryError` leaves the
  store as it was. An order the venue cannot find stays ``unknown`` and is polled (the miss
  count is stored, so it carries across restarts) until the not-found rule of
  :mod:`alphaloop.execution.reconcile` declares it ``not_placed``.
- **Warm = cold.** A fresh store opens the account from the venue's cash and positions, so a
  restart with the store and one rebuilt from the venue end in the same positions and cash.

Store calls are synchronous (SQLite/PostgreSQL commits of a few ms); broker calls are async.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from alphaloop.execution import (
    ExecutionParams,
    Fill,
    OrderIntent,
    OrderResolution,
    OrderStatus,
    Position,
    ReconciliationReport,
    check_client_order_id,
    client_order_id,
    compare_positions,
    intent_id,
    order_for_target,
    resolve_order,
    same_quantity,
)
from alphaloop.execution.fills import FillConflict
from trader.brokers.base import Broker, OrderRejected, SubmitTimeout, VenueQueryError
from trader.faults import fault_point
from trader.store import StateStore, StoredOrder, StoreError

log = logging.getLogger(__name__)
KILL_SWITCH = "kill_switch"
STATUS = "status"
_MAX_ID_PROBES = 100


class ReconciliationError(RuntimeError):
    """Store and venue do not agree (or the venue could not be asked): do not trade."""

    def __init__(self, report: ReconciliationReport) -> None:
        super().__init__(f"reconciliation failed: {report.describe()}")
        self.report = report


class TradingHalted(RuntimeError):
    """The executor refuses to place orders; the message says why."""


class OrderInFlight(RuntimeError):
    """An earlier order for the symbol is not settled yet; nothing new was sent."""

    def __init__(self, symbol: str, client_order_ids: list[str]) -> None:
        super().__init__(f"{symbol}: waiting for the venue to settle order(s) "
                         f"{', '.join(client_order_ids)}; nothing new was sent")
        self.symbol, self.client_order_ids = symbol, client_order_ids


class Executor:
    """Moves positions to targets through ``broker``, keeping ``store`` in step.

    Args:
        broker: Any :class:`~trader.brokers.Broker`.
        store: The state store.
        account: Name of this account/run; part of every client order id.
        params: ``trader.execution`` parameters.
        clock: Current UTC time (tests pass a fake one).
    """

    def __init__(self, broker: Broker, store: StateStore, account: str,
                 params: ExecutionParams | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.broker, self.store, self.account = broker, store, account
        self.params = params or ExecutionParams()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._ready = False
        self._halted: str | None = "start() has not reconciled with the venue yet"

    @property
    def halted_reason(self) -> str | None:
        """Why orders are refused (``None`` when trading)."""
        return None if self._ready else self._halted

    # -- start-up ----------------------------------------------------------------------

    async def start(self) -> ReconciliationReport:
        """Reconcile every unsettled order, the positions and the cash with the venue.

        Raises :class:`ReconciliationError` (and stays halted) when a query fails or the
        two sides disagree; returns the report when trading may begin.
        """
        self._ready = False
        report = ReconciliationReport()
        try:
            for order in self.store.orders(self.account, unsettled_only=True):
                report.orders.append(await self._resolve(order))
            venue_positions = await self.broker.fetch_positions()
            balance = await self.broker.fetch_balance()
        except (VenueQueryError, FillConflict, StoreError) as exc:
            report.errors.append(f"{type(exc).__name__}: {exc}")
            raise self._fail(report) from exc
        cash = balance.get(self.broker.quote_currency)
        if cash is None:
            report.errors.append(f"the venue's balance has no {self.broker.quote_currency}")
            raise self._fail(report)
        if not self.store.has_account(self.account):
            held = {s: q for s, q in venue_positions.items() if q != 0.0}
            self.store.open_account(self.account, cash, held, adopted=True)
            report.adopted = True
            log.info("account %s opened from the venue: cash %r, positions %s",
                     self.account, cash, held)
        ours = {s: p.quantity for s, p in self.store.positions(self.account).items()}
        report.positions = compare_positions(ours, venue_positions,
                                             self.params.quantity_tolerance)
        stored_cash = self.store.cash(self.account)
        if self.params.check_cash and not same_quantity(stored_cash, cash,
                                                        self.params.cash_tolerance):
            report.cash = (stored_cash, cash)
        if not report.ok:
            raise self._fail(report)
        self._ready, self._halted = True, None
        self.store.set_flag(self.account, STATUS, f"trading: {report.describe()}")
        log.info("reconciled with the venue: %s", report.describe())
        return report

    def _fail(self, report: ReconciliationReport) -> ReconciliationError:
        error = ReconciliationError(report)
        self._ready, self._halted = False, str(error)
        self.store.set_flag(self.account, STATUS, f"halted: {error}")
        log.error("%s; not trading", error)
        return error

    # -- trading -----------------------------------------------------------------------

    async def rebalance(self, symbol: str, target_quantity: float, reference_price: float,
                        decision_id: str | None, bar_time: datetime) -> list[Fill]:
        """Move ``symbol``'s position to ``target_quantity`` with one market order.

        Unsettled orders for ``symbol`` are first resolved with the venue; if one stays in
        doubt, :class:`OrderInFlight` is raised and nothing is sent. Returns the fills this
        call stored (including those of earlier orders it resolved).
        """
        self._check_ready()
        fills = await self.poll(symbol)
        self._check_ready()  # the venue may have contradicted the store
        waiting = self.store.orders(self.account, symbol=symbol, unsettled_only=True)
        if waiting:
            raise OrderInFlight(symbol, [o.client_order_id for o in waiting])
        current = self.store.position(self.account, symbol).quantity
        plan = order_for_target(current, target_quantity, self.params.quantity_tolerance)
        if plan is None:
            return fills
        self._check_kill_switch(symbol, current, target_quantity)
        side, wanted = plan
        quantity = await self.broker.normalize_quantity(symbol, wanted)
        if quantity <= 0:
            log.info("%s: %s %r is below the venue's minimum; no order", symbol, side, wanted)
            return fills
        intent = await self._new_intent(symbol, side, quantity, reference_price, decision_id,
                                        bar_time)
        self.store.add_intent(self.account, intent)
        fault_point("intent_stored")
        return fills + await self._send(intent)

    async def poll(self, symbol: str | None = None) -> list[Fill]:
        """Ask the venue about every unsettled order (of ``symbol``); returns new fills.

        Places nothing, so it is allowed while halted. A failed query raises
        :class:`~trader.brokers.VenueQueryError` and leaves that order as it was.
        """
        fills: list[Fill] = []
        for order in self.store.orders(self.account, symbol=symbol, unsettled_only=True):
            fills += (await self._resolve(order)).new_fills
        return fills

    async def ingest_fills(self, fills: list[Fill]) -> list[Fill]:
        """Store pushed fill reports (e.g. a websocket); duplicates are ignored."""
        return self.store.add_fills(self.account, fills)

    async def _new_intent(self, symbol: str, side: str, quantity: float, price: float,
                          decision_id: str | None, bar_time: datetime) -> OrderIntent:
        sequence = self.store.next_sequence(self.account, symbol, bar_time)
        for _ in range(_MAX_ID_PROBES):
            cid = check_client_order_id(client_order_id(
                self.account, symbol, bar_time, sequence, self.params.client_order_prefix))
            # A store rebuilt from the venue does not know this bar's earlier ids: never
            # reuse one the venue has seen.
            if (self.store.order(cid) is None
                    and await self.broker.fetch_order(cid, symbol) is None):
                return OrderIntent(intent_id=intent_id(self.account, symbol, bar_time,
                                                       sequence),
                                   client_order_id=cid, symbol=symbol,
                                   side=side,  # type: ignore[arg-type]
                                   quantity=quantity, reference_price=price,
                                   created_at=self._clock(), decision_id=decision_id,
                                   bar_time=bar_time, sequence=sequence)
            sequence += 1
        raise StoreError(f"{symbol} at {bar_time}: {_MAX_ID_PROBES} client order ids in a "
                         f"row are already taken")

    async def _send(self, intent: OrderIntent) -> list[Fill]:
        cid = intent.client_order_id
        try:
            order = await asyncio.wait_for(self.broker.submit(intent),
                                           self.params.submit_timeout_s)
        except OrderRejected as exc:
            self.store.mark_submit_failed(cid, OrderStatus.REJECTED, str(exc))
            log.warning("order %s rejected: %s", cid, exc)
            raise
        except (SubmitTimeout, TimeoutError) as exc:
            self.store.mark_submit_failed(cid, OrderStatus.UNKNOWN,
                                          str(exc) or "no answer within submit_timeout_s")
            log.warning("order %s: submit timed out; asking the venue by client order id",
                        cid)
            return await self.poll(intent.symbol)
        except Exception as exc:  # a broker that broke its contract: still "may be there"
            self.store.mark_submit_failed(cid, OrderStatus.UNKNOWN, f"{type(exc).__name__}: "
                                          f"{exc}")
            raise
        fault_point("order_sent")
        stored = self.store.order(cid)
        assert stored is not None
        fills, failure = [], None
        if order.filled_quantity > 0:
            try:
                fills = await self.broker.fetch_fills(cid, intent.symbol)
            except VenueQueryError as exc:
                failure = exc  # the acknowledgement is stored; the fills are polled later
        resolution = resolve_order(stored.tracked(), order, fills,
                                   self.store.fills(self.account, cid), self._clock(),
                                   self.params.not_found, self.params.quantity_tolerance)
        new = self._apply(resolution)
        if failure is not None:
            raise failure
        return new

    async def _resolve(self, order: StoredOrder) -> OrderResolution:
        symbol, cid = order.intent.symbol, order.client_order_id
        venue = await self.broker.fetch_order(cid, symbol)
        fills = (await self.broker.fetch_fills(cid, symbol)
                 if venue is not None and venue.filled_quantity > 0 else [])
        resolution = resolve_order(order.tracked(), venue, fills,
                                   self.store.fills(self.account, cid), self._clock(),
                                   self.params.not_found, self.params.quantity_tolerance)
        self._apply(resolution)
        return resolution

    def _apply(self, resolution: OrderResolution) -> list[Fill]:
        if resolution.problem:  # store and venue disagree: stop trading until a restart
            self._ready = False  # reconciles again
            self._halted = f"the venue contradicts the store: {resolution.problem}"
            self.store.set_flag(self.account, STATUS, f"halted: {self._halted}")
            log.error("%s; not trading", self._halted)
        elif resolution.status == OrderStatus.NOT_PLACED:
            log.warning("order %s: the venue confirmed it never received it (not_placed)",
                        resolution.client_order_id)
        return self.store.apply_resolution(resolution)

    def _check_ready(self) -> None:
        if not self._ready:
            raise TradingHalted(self._halted or "not started")

    def _check_kill_switch(self, symbol: str, current: float, target: float) -> None:
        reason = self.store.flag(self.account, KILL_SWITCH)
        reduces = abs(target) <= abs(current) and target * current >= 0
        if reason is not None and not reduces:
            raise TradingHalted(f"kill switch engaged ({reason}): only orders that reduce "
                                f"a position are placed; {symbol} {current} -> {target} "
                                f"refused")

    def engage_kill_switch(self, reason: str) -> None:
        """From now on (and after restarts) only position-reducing orders are placed."""
        self.store.set_flag(self.account, KILL_SWITCH, reason)
        log.warning("kill switch engaged: %s", reason)

    def release_kill_switch(self) -> None:
        self.store.set_flag(self.account, KILL_SWITCH, None)

    # -- state -------------------------------------------------------------------------

    def position(self, symbol: str) -> Position:
        return self.store.position(self.account, symbol)

    def positions(self) -> dict[str, Position]:
        return self.store.positions(self.account)

    def cash(self) -> float:
        return self.store.cash(self.account)

    def equity(self, prices: Mapping[str, float]) -> float:
        """Cash plus every open position at ``prices`` (a missing price is an error)."""
        total = self.cash()
        for symbol, position in self.positions().items():
            if position.quantity != 0.0:
                if symbol not in prices:
                    raise ValueError(f"equity needs a price for {symbol} (position "
                                     f"{position.quantity})")
                total += position.quantity * prices[symbol]
        return total

    def record_equity(self, time: datetime, prices: Mapping[str, float]) -> float:
        """Store an equity snapshot at ``time``; returns the equity."""
        equity = self.equity(prices)
        held = {s: p.quantity for s, p in self.positions().items()}
        self.store.record_equity(self.account, time, equity, self.cash(), held,
                                 {s: prices[s] for s in held if s in prices})
        return equity
