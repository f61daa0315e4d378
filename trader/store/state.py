"""``StateStore``: orders, fills, positions, cash, equity, decisions and flags.

One SQLAlchemy 2 database, SQLite by default or PostgreSQL by URL. Every method is one
transaction, committed before it returns, so whatever a method reported as stored survives a
crash of the process right after it. SQLite runs in WAL mode with ``synchronous=FULL`` (each
commit is fsynced). On PostgreSQL a ``schema`` keeps several stores apart in one database.

Positions and cash are not kept as running totals: they are recomputed from the opening state
and the stored fills in the same transaction that adds fills (``math.fsum``, so the result
does not depend on the order the fills arrived in). That is O(fills) per update, cheap for the
thousands of orders a bar-based trader makes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from alphaloop.execution import (
    Fill,
    OrderIntent,
    OrderResolution,
    OrderStatus,
    Position,
    cash_from_fills,
    check_client_order_id,
    dedupe_fills,
    new_fills,
    position_from_fills,
    summarize_fills,
)
from alphaloop.execution.fills import FillConflict
from alphaloop.execution.model import check_utc
from trader.store.records import (
    Decision,
    EquitySnapshot,
    StoredOrder,
    decision_of,
    fill_of,
    fill_row,
    order_of,
)
from trader.store.tables import (
    AccountRow,
    Base,
    DecisionRow,
    EquityRow,
    FillRow,
    FlagRow,
    OrderRow,
    PositionRow,
    jsonable,
)

if TYPE_CHECKING:
    from alphaloop.config import Settings

DEFAULT_STORE_PATH = Path(".alphaloop/trader/state.db")


class StoreError(RuntimeError):
    """The store refused a write that would make its state wrong."""


def default_store_url(root: Path = Path(".")) -> str:
    """``sqlite:///<root>/.alphaloop/trader/state.db``."""
    return f"sqlite:///{root / DEFAULT_STORE_PATH}"


def _now() -> datetime:
    return datetime.now(UTC)


class StateStore:
    """The trader's durable state.

    Args:
        url: SQLAlchemy URL (``sqlite:///path.db``, ``postgresql+psycopg2://user@host/db``);
            ``None`` for :func:`default_store_url`.
        schema: PostgreSQL schema to hold the tables (created if missing); ``None`` for the
            default (``public``). Not available on SQLite.
    """

    def __init__(self, url: str | None = None, *, schema: str | None = None) -> None:
        self.url = make_url(url or default_store_url())
        self.schema = schema
        self._engine = _make_engine(self.url, schema)
        Base.metadata.create_all(self._engine)
        self._session = sessionmaker(self._engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> StateStore:
        """The store ``ALPHALOOP_TRADER_STORE_URL`` names (unset: the default SQLite file)."""
        from alphaloop.config import Settings  # imports every params model: only when asked

        return cls((settings or Settings()).trader_store_url)

    def __repr__(self) -> str:
        return f"StateStore({self.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        self._engine.dispose()

    # -- decisions ---------------------------------------------------------------------

    def record_decision(self, decision_id: str, bar_time: datetime, symbol: str,
                        inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> None:
        """Store (or replace) a decision with its inputs and outputs."""
        now = _now()
        ins = jsonable(dict(inputs), f"decision {decision_id} inputs")
        outs = jsonable(dict(outputs), f"decision {decision_id} outputs")
        with self._session.begin() as session:
            row = session.get(DecisionRow, decision_id)
            if row is None:
                session.add(DecisionRow(decision_id=decision_id, bar_time=bar_time,
                                        symbol=symbol, inputs=ins, outputs=outs,
                                        recorded_at=now, updated_at=now))
            else:
                row.bar_time, row.symbol, row.inputs, row.outputs = bar_time, symbol, ins, outs
                row.updated_at = now

    def decision(self, decision_id: str) -> Decision | None:
        with self._session() as session:
            row = session.get(DecisionRow, decision_id)
            return None if row is None else decision_of(row)

    def decisions(self, symbol: str | None = None) -> list[Decision]:
        query = select(DecisionRow).order_by(DecisionRow.bar_time, DecisionRow.decision_id)
        if symbol is not None:
            query = query.where(DecisionRow.symbol == symbol)
        with self._session() as session:
            return [decision_of(row) for row in session.scalars(query)]

    # -- accounts ----------------------------------------------------------------------

    def has_account(self, account: str) -> bool:
        with self._session() as session:
            return session.get(AccountRow, account) is not None

    def open_account(self, account: str, cash: float, positions: Mapping[str, float],
                     adopted: bool) -> None:
        """Create ``account`` with its opening cash and positions (once)."""
        now = _now()
        with self._session.begin() as session:
            if session.get(AccountRow, account) is not None:
                raise StoreError(f"account {account!r} is already open in {self!r}")
            session.add(AccountRow(account=account, opening_cash=cash, cash=cash,
                                   adopted=adopted, opened_at=now, updated_at=now))
            session.flush()
            for symbol, quantity in positions.items():
                session.add(PositionRow(account=account, symbol=symbol, quantity=quantity,
                                        average_price=None, opening_quantity=quantity,
                                        opening_average_price=None, updated_at=now))

    def cash(self, account: str) -> float:
        with self._session() as session:
            return _account(session, account).cash

    def positions(self, account: str) -> dict[str, Position]:
        """Every symbol the account has held, flat ones included."""
        query = select(PositionRow).where(PositionRow.account == account)
        with self._session() as session:
            return {row.symbol: Position(row.symbol, row.quantity, row.average_price)
                    for row in session.scalars(query)}

    def position(self, account: str, symbol: str) -> Position:
        return self.positions(account).get(symbol, Position(symbol))

    # -- orders ------------------------------------------------------------------------

    def next_sequence(self, account: str, symbol: str, bar_time: datetime) -> int:
        """How many intents ``account`` already has for ``symbol`` at ``bar_time``."""
        query = select(func.count()).select_from(OrderRow).where(
            OrderRow.account == account, OrderRow.symbol == symbol,
            OrderRow.bar_time == bar_time)
        with self._session() as session:
            return int(session.scalar(query) or 0)

    def add_intent(self, account: str, intent: OrderIntent) -> None:
        """Commit an intent as ``pending_submit``; before this returns nothing may be sent."""
        check_client_order_id(intent.client_order_id)
        now = _now()
        try:
            with self._session.begin() as session:
                _account(session, account)
                session.add(OrderRow(
                    client_order_id=intent.client_order_id, intent_id=intent.intent_id,
                    account=account, symbol=intent.symbol, side=intent.side,
                    quantity=intent.quantity, reference_price=intent.reference_price,
                    bar_time=intent.bar_time, sequence=intent.sequence,
                    decision_id=intent.decision_id, created_at=intent.created_at,
                    status=OrderStatus.PENDING_SUBMIT.value, settled=False,
                    venue_filled_quantity=0.0, filled_quantity=0.0, missing_polls=0,
                    updated_at=now))
        except IntegrityError as exc:
            raise StoreError(f"intent {intent.intent_id} ({intent.client_order_id}) is "
                             f"already stored") from exc

    def order(self, client_order_id: str) -> StoredOrder | None:
        with self._session() as session:
            row = session.get(OrderRow, client_order_id)
            return None if row is None else order_of(row)

    def orders(self, account: str, *, symbol: str | None = None,
               unsettled_only: bool = False) -> list[StoredOrder]:
        """The account's orders, oldest first."""
        query = select(OrderRow).where(OrderRow.account == account)
        if symbol is not None:
            query = query.where(OrderRow.symbol == symbol)
        if unsettled_only:
            query = query.where(OrderRow.settled.is_(False))
        query = query.order_by(OrderRow.created_at, OrderRow.client_order_id)
        with self._session() as session:
            return [order_of(row) for row in session.scalars(query)]

    def mark_submit_failed(self, client_order_id: str, status: OrderStatus, error: str) -> None:
        """After a send: ``unknown`` (timeout; the venue may hold it) or ``rejected``."""
        if status not in (OrderStatus.UNKNOWN, OrderStatus.REJECTED):
            raise ValueError(f"a failed submit is unknown or rejected, not {status}")
        now = _now()
        with self._session.begin() as session:
            row = _order(session, client_order_id)
            row.status, row.last_error, row.updated_at = status.value, error[:2000], now
            row.submitted_at = row.submitted_at or now
            row.settled = status == OrderStatus.REJECTED

    def apply_resolution(self, resolution: OrderResolution) -> list[Fill]:
        """Store what the venue said about an order, its new fills, and the positions and
        cash that follow, in one transaction. Returns the fills that were new."""
        now = _now()
        with self._session.begin() as session:
            row = _order(session, resolution.client_order_id)
            row.status = resolution.status.value
            row.venue_order_id = resolution.venue_order_id or row.venue_order_id
            row.venue_filled_quantity = resolution.venue_filled_quantity
            row.missing_polls = resolution.missing_polls
            row.first_missing_at = resolution.first_missing_at
            row.last_error = resolution.problem or row.last_error
            row.settled = resolution.settled
            row.updated_at = now
            return self._add_fills(session, row.account, resolution.new_fills, now)

    # -- fills, positions, cash --------------------------------------------------------

    def add_fills(self, account: str, fills: Iterable[Fill]) -> list[Fill]:
        """Store fill reports (duplicates ignored, conflicts refused); returns the new ones."""
        with self._session.begin() as session:
            return self._add_fills(session, account, list(fills), _now())

    def fills(self, account: str, client_order_id: str | None = None) -> list[Fill]:
        query = select(FillRow).where(FillRow.account == account)
        if client_order_id is not None:
            query = query.where(FillRow.client_order_id == client_order_id)
        with self._session() as session:
            return dedupe_fills(fill_of(row) for row in session.scalars(query))

    def _add_fills(self, session: Session, account: str, fills: Iterable[Fill],
                   now: datetime) -> list[Fill]:
        reported = dedupe_fills(fills)
        if not reported:
            return []
        ids = [f.fill_id for f in reported]
        known = [fill_of(r) for r in session.scalars(select(FillRow).where(
            FillRow.fill_id.in_(ids)))]
        fresh = new_fills(known, reported)
        for fill in fresh:
            order = _order(session, fill.client_order_id)
            if order.account != account or (order.symbol, order.side) != (fill.symbol,
                                                                           fill.side):
                raise FillConflict(f"fill {fill.fill_id} does not match order "
                                   f"{order.client_order_id} ({order.account} "
                                   f"{order.side} {order.symbol})")
            session.add(fill_row(account, fill, now))
        session.flush()
        for cid in {f.client_order_id for f in fresh}:
            self._refresh_order(session, _order(session, cid))
        for symbol in {f.symbol for f in fresh}:
            self._refresh_position(session, account, symbol, now)
        self._refresh_cash(session, account, now)
        return fresh

    def _refresh_order(self, session: Session, row: OrderRow) -> None:
        fills = [fill_of(r) for r in session.scalars(select(FillRow).where(
            FillRow.client_order_id == row.client_order_id))]
        summary = summarize_fills(fills)
        if summary.quantity > row.quantity * (1 + 1e-9) + 1e-12:
            raise FillConflict(f"order {row.client_order_id}: fills total {summary.quantity} "
                               f"exceed the ordered {row.quantity}")
        row.filled_quantity, row.average_price = summary.quantity, summary.average_price

    def _refresh_position(self, session: Session, account: str, symbol: str,
                          now: datetime) -> None:
        row = session.get(PositionRow, (account, symbol))
        if row is None:
            row = PositionRow(account=account, symbol=symbol, quantity=0.0,
                              opening_quantity=0.0, updated_at=now)
            session.add(row)
        opening = Position(symbol, row.opening_quantity, row.opening_average_price)
        fills = [fill_of(r) for r in session.scalars(select(FillRow).where(
            FillRow.account == account, FillRow.symbol == symbol))]
        position = position_from_fills(opening, fills)
        row.quantity, row.average_price, row.updated_at = (position.quantity,
                                                           position.average_price, now)

    def _refresh_cash(self, session: Session, account: str, now: datetime) -> None:
        row = _account(session, account)
        fills = [fill_of(r) for r in session.scalars(select(FillRow).where(
            FillRow.account == account))]
        row.cash, row.updated_at = cash_from_fills(row.opening_cash, fills), now

    # -- equity and flags --------------------------------------------------------------

    def record_equity(self, account: str, time: datetime, equity: float, cash: float,
                      positions: Mapping[str, float], prices: Mapping[str, float]) -> None:
        """Store the snapshot at ``time`` (replacing one already there: a replayed bar)."""
        with self._session.begin() as session:
            row = session.get(EquityRow, (account, check_utc(time, "equity time")))
            if row is None:
                row = EquityRow(account=account, time=time)
                session.add(row)
            row.equity, row.cash = equity, cash
            row.positions, row.prices = jsonable(dict(positions)), jsonable(dict(prices))

    def equity_curve(self, account: str) -> list[EquitySnapshot]:
        query = select(EquityRow).where(EquityRow.account == account).order_by(EquityRow.time)
        with self._session() as session:
            return [EquitySnapshot(r.time, r.equity, r.cash, r.positions, r.prices)
                    for r in session.scalars(query)]

    def set_flag(self, account: str, name: str, value: str | None) -> None:
        """Set (or clear, with ``None``) a flag such as ``status`` or ``kill_switch``."""
        with self._session.begin() as session:
            row = session.get(FlagRow, (account, name))
            if value is None:
                if row is not None:
                    session.delete(row)
            elif row is None:
                session.add(FlagRow(account=account, name=name, value=value, updated_at=_now()))
            else:
                row.value, row.updated_at = value, _now()

    def flag(self, account: str, name: str) -> str | None:
        with self._session() as session:
            row = session.get(FlagRow, (account, name))
            return None if row is None else row.value


def _account(session: Session, account: str) -> AccountRow:
    row = session.get(AccountRow, account)
    if row is None:
        raise StoreError(f"account {account!r} is not open (the executor opens it on start)")
    return row


def _order(session: Session, client_order_id: str) -> OrderRow:
    row = session.get(OrderRow, client_order_id)
    if row is None:
        raise StoreError(f"no order with client order id {client_order_id!r} in the store")
    return row


def _make_engine(url: Any, schema: str | None) -> Engine:
    if url.get_backend_name() == "sqlite":
        if schema is not None:
            raise ValueError("schema= is for PostgreSQL; use a separate SQLite file instead")
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, pool_pre_ping=True)
    if schema is None:
        return engine
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    return engine.execution_options(schema_translate_map={None: schema})


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL + synchronous=FULL: a commit is on disk before it returns (survived SIGKILLs).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
