"""The state store's tables (SQLAlchemy 2 ORM), identical on SQLite and PostgreSQL.

Times are stored as naive UTC (``UTCDateTime`` converts on the way in and out), money and
quantities as double precision, decision inputs/outputs as JSON.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from alphaloop.execution.model import check_utc


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; naive values are refused."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return check_utc(value, "stored time").replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class AccountRow(Base):
    """One trading account: its opening cash (adopted from the venue on first start)."""

    __tablename__ = "accounts"
    account: Mapped[str] = mapped_column(String(100), primary_key=True)
    opening_cash: Mapped[float] = mapped_column(Double)
    cash: Mapped[float] = mapped_column(Double)
    adopted: Mapped[bool] = mapped_column(Boolean)  # opened from the venue's state
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OrderRow(Base):
    """An intent and everything learned about it from the venue."""

    __tablename__ = "orders"
    client_order_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    intent_id: Mapped[str] = mapped_column(String(300), unique=True)
    account: Mapped[str] = mapped_column(String(100), ForeignKey("accounts.account"))
    symbol: Mapped[str] = mapped_column(String(100))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[float] = mapped_column(Double)
    reference_price: Mapped[float] = mapped_column(Double)
    bar_time: Mapped[datetime] = mapped_column(UTCDateTime)
    sequence: Mapped[int] = mapped_column(Integer)
    decision_id: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20))
    settled: Mapped[bool] = mapped_column(Boolean, default=False)
    venue_order_id: Mapped[str | None] = mapped_column(String(100))
    venue_filled_quantity: Mapped[float] = mapped_column(Double, default=0.0)
    filled_quantity: Mapped[float] = mapped_column(Double, default=0.0)  # from stored fills
    average_price: Mapped[float | None] = mapped_column(Double)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    missing_polls: Mapped[int] = mapped_column(Integer, default=0)
    first_missing_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("account", "symbol", "bar_time", "sequence"),
                      Index("ix_orders_account_settled", "account", "settled"))


class FillRow(Base):
    """One execution, unique by the venue's fill id."""

    __tablename__ = "fills"
    fill_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    client_order_id: Mapped[str] = mapped_column(String(36),
                                                 ForeignKey("orders.client_order_id"))
    account: Mapped[str] = mapped_column(String(100))
    symbol: Mapped[str] = mapped_column(String(100))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[float] = mapped_column(Double)
    price: Mapped[float] = mapped_column(Double)
    fee: Mapped[float] = mapped_column(Double)
    fee_asset: Mapped[str] = mapped_column(String(5))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_fills_account_symbol", "account", "symbol"),)


class PositionRow(Base):
    """A position: the opening (adopted) holding plus everything the fills did."""

    __tablename__ = "positions"
    account: Mapped[str] = mapped_column(String(100), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(100), primary_key=True)
    quantity: Mapped[float] = mapped_column(Double)
    average_price: Mapped[float | None] = mapped_column(Double)
    opening_quantity: Mapped[float] = mapped_column(Double, default=0.0)
    opening_average_price: Mapped[float | None] = mapped_column(Double)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EquityRow(Base):
    """An equity snapshot: cash plus positions at the given prices (one per time)."""

    __tablename__ = "equity"
    account: Mapped[str] = mapped_column(String(100), primary_key=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    equity: Mapped[float] = mapped_column(Double)
    cash: Mapped[float] = mapped_column(Double)
    positions: Mapped[dict[str, Any]] = mapped_column(JSON)
    prices: Mapped[dict[str, Any]] = mapped_column(JSON)


class DecisionRow(Base):
    """A decision with everything it was computed from and what it concluded."""

    __tablename__ = "decisions"
    decision_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    bar_time: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    symbol: Mapped[str] = mapped_column(String(100))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FlagRow(Base):
    """Per-account status flags (``status``, ``kill_switch``, ...)."""

    __tablename__ = "flags"
    account: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


def jsonable(value: Any, where: str = "value") -> Any:
    """``value`` as plain JSON: numpy values become numbers/lists, times ISO strings, and
    non-finite floats the strings ``"nan"``/``"inf"``/``"-inf"`` (JSON has no NaN, and
    PostgreSQL refuses it). Anything else unknown is refused, naming where it was."""
    if isinstance(value, dict):
        return {str(k): jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if callable(getattr(value, "tolist", None)):  # numpy scalars and arrays, pandas Series
        return jsonable(value.tolist(), where)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{where}: {type(value).__name__} cannot be stored as JSON")
