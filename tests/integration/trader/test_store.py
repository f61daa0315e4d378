"""The state store on SQLite and PostgreSQL: what it holds and what it refuses."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from alphaloop.config import Settings
from alphaloop.execution import Fill, FillConflict, OrderResolution, OrderStatus, Position
from tests.integration.trader.conftest import T0, StoreSpec
from tests.unit.execution.conftest import make_fill, make_intent
from trader.store import StateStore, StoreError

pytestmark = pytest.mark.integration


def _filled(intent_cid: str, fills: tuple[Fill, ...], quantity: float) -> OrderResolution:
    return OrderResolution(intent_cid, OrderStatus.FILLED, "V1", quantity, fills, settled=True)


def test_orders_fills_positions_cash(store_spec: StoreSpec) -> None:
    store = store_spec.open()
    try:
        store.open_account("acct", 1_000.0, {}, adopted=False)
        intent = make_intent(quantity=2.0)
        store.add_intent("acct", intent)
        pending = store.order(intent.client_order_id)
        assert pending is not None and pending.status == OrderStatus.PENDING_SUBMIT
        assert pending.intent == intent and not pending.settled
        assert store.next_sequence("acct", "BTC/USDT", intent.bar_time) == 1
        with pytest.raises(StoreError, match="already stored"):
            store.add_intent("acct", intent)

        cid = intent.client_order_id
        part = make_fill(cid, "f1", 0.5, 100.0, fee=0.05)
        rest = make_fill(cid, "f2", 1.5, 104.0, seconds=1, fee=0.15)
        assert store.add_fills("acct", [part, part]) == [part]  # duplicate report
        assert store.apply_resolution(_filled(cid, (part, rest), 2.0)) == [rest]
        order = store.order(cid)
        assert order is not None and order.settled and order.status == OrderStatus.FILLED
        assert order.filled_quantity == 2.0 and order.average_price == pytest.approx(103.0)
        assert store.position("acct", "BTC/USDT") == Position("BTC/USDT", 2.0,
                                                              pytest.approx(103.0))
        assert store.cash("acct") == pytest.approx(1_000.0 - 206.0 - 0.2)
        with pytest.raises(FillConflict):  # the same fill id with another price
            store.add_fills("acct", [replace(part, price=99.0)])
        with pytest.raises(FillConflict, match="exceed"):
            store.add_fills("acct", [make_fill(cid, "f3", 1.0, 100.0)])
        assert store.cash("acct") == pytest.approx(793.8)  # refused writes changed nothing
    finally:
        store.close()


def test_decisions_equity_and_flags(store_spec: StoreSpec) -> None:
    store = store_spec.open()
    try:
        inputs = {"p_up": np.float64(0.61), "features": {"rsi_14": float("nan")},
                  "bar": T0, "votes": np.array([1, 2])}
        store.record_decision("d1", T0, "BTC/USDT", inputs, {"target": 0.5})
        store.record_decision("d1", T0, "BTC/USDT", inputs, {"target": 0.5, "done": True})
        (decision,) = store.decisions("BTC/USDT")
        assert decision.inputs == {"p_up": 0.61, "features": {"rsi_14": "nan"},
                                   "bar": T0.isoformat(), "votes": [1, 2]}
        assert decision.outputs == {"target": 0.5, "done": True}
        with pytest.raises(TypeError, match=r"inputs\.model"):
            store.record_decision("d2", T0, "BTC/USDT", {"model": object()}, {})

        store.open_account("acct", 10.0, {"BTC/USDT": 1.0}, adopted=True)
        assert store.positions("acct") == {"BTC/USDT": Position("BTC/USDT", 1.0, None)}
        for minutes, equity in ((0, 10.0), (15, 11.0), (15, 12.0)):  # a replayed bar replaces
            store.record_equity("acct", T0 + timedelta(minutes=minutes), equity, 10.0,
                                {"BTC/USDT": 1.0}, {"BTC/USDT": equity - 10.0})
        assert [s.equity for s in store.equity_curve("acct")] == [10.0, 12.0]

        store.set_flag("acct", "kill_switch", "daily loss 3%")
        assert store.flag("acct", "kill_switch") == "daily loss 3%"
        store.set_flag("acct", "kill_switch", None)
        assert store.flag("acct", "kill_switch") is None
        with pytest.raises(ValueError, match="timezone-aware"):
            store.record_equity("acct", datetime(2024, 1, 1), 1.0, 1.0, {}, {})
    finally:
        store.close()


def test_intents_need_an_open_account(store_spec: StoreSpec) -> None:
    store = store_spec.open()
    try:
        with pytest.raises(StoreError, match="not open"):
            store.add_intent("nobody", make_intent())
    finally:
        store.close()


def test_sqlite_store_is_wal_and_fsyncs_every_commit(tmp_path: Path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'deep' / 'state.db'}")
    store.open_account("acct", 1.0, {}, adopted=False)
    with store._engine.connect() as conn:  # the pragmas every pooled connection gets
        raw = conn.connection.dbapi_connection
        assert raw is not None
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()
    with sqlite3.connect(tmp_path / "deep" / "state.db") as plain:
        assert plain.execute("SELECT cash FROM accounts").fetchone() == (1.0,)
    with pytest.raises(ValueError, match="PostgreSQL"):
        StateStore(f"sqlite:///{tmp_path / 'x.db'}", schema="s")


def test_store_url_comes_from_the_environment(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHALOOP_TRADER_STORE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    store = StateStore.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    store.open_account("acct", 1.0, {}, adopted=False)
    store.close()
    assert (tmp_path / "env.db").exists()
