"""Stores on both backends, test venues with faults, target sequences and the checks that
a store and its venue agree."""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from alphaloop.execution import OrderIntent, OrderStatus, VenueOrder
from trader.brokers import SubmitTimeout, VenueQueryError
from trader.brokers.paper import PaperBroker
from trader.store import StateStore

PG_URL = os.environ.get("ALPHALOOP_TEST_POSTGRES_URL",
                        "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
T0 = datetime(2024, 1, 1, tzinfo=UTC)
SYMBOLS = {"BTC/USD": 40_000.0, "ETH/USD": 2_000.0}


@dataclass(frozen=True)
class StoreSpec:
    """Where a test's store lives: a URL and, on PostgreSQL, a schema of its own."""

    url: str
    schema: str | None = None

    def open(self) -> StateStore:
        return StateStore(self.url, schema=self.schema)

    def cli(self) -> list[str]:
        return ["--store", self.url] + (["--schema", self.schema] if self.schema else [])

    @property
    def url_in_schema(self) -> str:
        """One URL for both backends (``ALPHALOOP_TRADER_STORE_URL``): on PostgreSQL the
        connection searches the test's schema first, so the store's tables land there."""
        return f"{self.url}?options=-csearch_path%3D{self.schema}" if self.schema else self.url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreSpec]:
    """The same test on a SQLite file and in a fresh PostgreSQL schema (dropped after)."""
    if request.param == "sqlite":
        yield StoreSpec(f"sqlite:///{tmp_path / 'state.db'}")
        return
    engine = create_engine(PG_URL)
    try:
        engine.connect().close()
    except OperationalError as exc:
        pytest.skip(f"PostgreSQL unreachable at {PG_URL} (.ci/run starts it): {exc}")
    schema = f"trader_test_{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield StoreSpec(PG_URL, schema)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def venue_path(tmp_path: Path) -> Path:
    return tmp_path / "venue.db"


def paper(path: Path, **kwargs: float) -> PaperBroker:
    return PaperBroker(path, initial_cash=100_000.0, fee_bps=10.0, slippage_bps=5.0,
                       **kwargs)  # type: ignore[arg-type]


class AcceptThenTimeout(PaperBroker):
    """A venue that takes the order, then the answer is lost (``times`` submits)."""

    times = 1

    async def submit(self, intent: OrderIntent) -> VenueOrder:
        order = await super().submit(intent)
        if self.times > 0:
            self.times -= 1
            raise SubmitTimeout(f"no answer for {intent.client_order_id}")
        return order


class FailingQueries(PaperBroker):
    """A venue whose queries fail while ``failing`` is set (orders still go through)."""

    failing = True

    def _check(self, what: str) -> None:
        if self.failing:
            raise VenueQueryError(f"{what}: 503 Service Unavailable")

    async def fetch_order(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        self._check("fetch_order")
        return await super().fetch_order(client_order_id, symbol)

    async def fetch_positions(self) -> dict[str, float]:
        self._check("fetch_positions")
        return await super().fetch_positions()

    async def fetch_balance(self) -> dict[str, float]:
        self._check("fetch_balance")
        return await super().fetch_balance()


def write_targets(path: Path, bars: int, seed: int) -> list[dict[str, object]]:
    """Random target positions (longs, shorts, flat, repeats) on two symbols."""
    rng = random.Random(seed)
    rows = []
    for i in range(bars):
        for symbol, base in SYMBOLS.items():
            size = rng.choice([0.0, 0.0, 0.5, 1.0, -1.0]) * round(rng.uniform(0.1, 2.0), 4)
            if i and rng.random() < 0.2:
                size = rows[-2]["target"]  # unchanged target: no order
            rows.append({"bar_time": (T0 + timedelta(minutes=15 * i)).isoformat(),
                         "symbol": symbol, "target": size,
                         "price": round(base * (1 + rng.gauss(0, 0.01)), 2)})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


async def assert_store_matches_venue(store: StateStore, venue: PaperBroker,
                                     account: str) -> None:
    """No order lost or duplicated, every order settled, fills, positions and cash equal."""
    stored = store.orders(account)
    placed = {o.client_order_id: o for o in stored if o.status != OrderStatus.NOT_PLACED}
    venue_orders = {o.client_order_id: o for o in venue.venue_orders()}
    assert set(placed) == set(venue_orders), "store and venue hold different orders"
    sent = [cid for cid, _ in venue.submissions()]
    assert len(sent) == len(set(sent)), "an order was sent twice"
    assert all(o.settled for o in stored), [o for o in stored if not o.settled]
    for cid, order in placed.items():
        theirs = venue_orders[cid]
        assert (order.intent.symbol, order.intent.side, order.intent.quantity) == (
            theirs.symbol, theirs.side, theirs.quantity)
        assert (order.status, order.filled_quantity) == (theirs.status, theirs.filled_quantity)
    venue_fills = [f for cid, o in venue_orders.items()
                   for f in await venue.fetch_fills(cid, o.symbol)]
    assert sorted(store.fills(account), key=lambda f: f.fill_id) == sorted(
        venue_fills, key=lambda f: f.fill_id)
    ours = {s: p.quantity for s, p in store.positions(account).items() if p.quantity}
    theirs_held = {s: q for s, q in (await venue.fetch_positions()).items() if q}
    assert ours == theirs_held
    assert store.cash(account) == (await venue.fetch_balance())[venue.quote_currency]


# -- the trader end to end: one project (real models, registry) and one server per session --


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    from tests.integration.trader.e2e_setup import build_project

    root = tmp_path_factory.mktemp("trader-project")
    return root, build_project(root)


@pytest.fixture(scope="session")
def serving(project: tuple[Path, Any]) -> Iterator[Any]:
    from tests.integration.trader.e2e_setup import Serving

    server = Serving(project[0])
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def frames(project: tuple[Path, Any]) -> dict[str, Any]:
    from trader.runner import replay_frames

    return replay_frames(project[1], ["BTC-USD"])
