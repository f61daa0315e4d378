"""Order-book features on hand-built snapshots."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime

import pytest

from alphaloop.features import (
    OrderBookSnapshot,
    WhaleWall,
    calculate_imbalance,
    detect_whale_walls,
    orderbook_features,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _book(bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> OrderBookSnapshot:
    return OrderBookSnapshot(timestamp=T0, bids=bids, asks=asks)


def test_imbalance_computed_by_hand() -> None:
    book = _book(bids=[(100.0, 3.0), (99.0, 1.0), (98.0, 6.0)], asks=[(101.0, 1.0), (102.0, 1.0)])
    assert calculate_imbalance(book, depth=1) == pytest.approx((3 - 1) / (3 + 1))
    assert calculate_imbalance(book, depth=2) == pytest.approx((4 - 2) / (4 + 2))
    assert calculate_imbalance(book, depth=10) == pytest.approx((10 - 2) / (10 + 2))


def test_imbalance_sign_and_bounds() -> None:
    ask_heavy = _book(bids=[(100.0, 1.0)], asks=[(101.0, 9.0)])
    assert calculate_imbalance(ask_heavy) == pytest.approx(-0.8)
    assert calculate_imbalance(_book(bids=[(100.0, 2.0)], asks=[])) == 1.0
    assert calculate_imbalance(_book(bids=[], asks=[])) == 0.0
    assert calculate_imbalance(_book(bids=[(100.0, 0.0)], asks=[(101.0, 0.0)])) == 0.0


def test_whale_wall_detected_on_the_right_side_with_strength() -> None:
    bids = [(100.0 - i, 1.0) for i in range(10)]
    bids[3] = (97.0, 50.0)
    asks = [(101.0 + i, 1.0) for i in range(10)]
    walls = detect_whale_walls(_book(bids, asks))
    assert walls == [WhaleWall(side="bid", price=97.0, size=50.0, strength=50.0)]


def test_ask_walls_sorted_by_strength_and_threshold_respected() -> None:
    bids = [(100.0 - i, 2.0) for i in range(8)]
    asks = [(101.0 + i, 2.0) for i in range(8)]
    asks[1] = (102.0, 20.0)  # strength 10
    asks[5] = (106.0, 40.0)  # strength 20
    asks[6] = (107.0, 8.0)  # strength 4: below the default threshold
    walls = detect_whale_walls(_book(bids, asks))
    assert [(w.side, w.price, w.strength) for w in walls] == [
        ("ask", 106.0, 20.0),
        ("ask", 102.0, 10.0),
    ]
    assert len(detect_whale_walls(_book(bids, asks), threshold=4.0)) == 3
    assert detect_whale_walls(_book(bids, asks), depth=1) == []


def test_orderbook_features() -> None:
    book = _book(bids=[(100.0, 1.0), (99.0, 1.0), (98.0, 30.0)], asks=[(101.0, 2.0)])
    feats = orderbook_features(book)
    assert feats["mid"] == pytest.approx(100.5)
    assert feats["spread_bps"] == pytest.approx(1.0 / 100.5 * 1e4)
    assert feats["imbalance_5"] == pytest.approx((32 - 2) / 34)
    assert feats["bid_wall_strength"] == pytest.approx(30.0)
    assert feats["ask_wall_strength"] == pytest.approx(1.0)
    empty = orderbook_features(_book(bids=[], asks=[(101.0, 1.0)]))
    assert math.isnan(empty["mid"]) and math.isnan(empty["spread_bps"])
    assert empty["bid_wall_strength"] == 0.0


def test_snapshot_is_immutable() -> None:
    bids = [(100.0, 1.0)]
    book = _book(bids=bids, asks=[(101.0, 1.0)])
    bids.append((99.0, 5.0))
    assert book.bids == ((100.0, 1.0),)
    with pytest.raises(dataclasses.FrozenInstanceError):
        book.bids = ()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("bids", "asks", "message"),
    [
        ([(101.0, 1.0)], [(100.0, 1.0)], "crossed book"),
        ([(100.0, 1.0)], [(100.0, 1.0)], "crossed book"),
        ([(99.0, 1.0), (100.0, 1.0)], [(101.0, 1.0)], "bid level 1: prices must be strictly desc"),
        ([(100.0, 1.0)], [(102.0, 1.0), (101.0, 1.0)], "ask level 1: prices must be strictly asc"),
        ([(100.0, -1.0)], [(101.0, 1.0)], "bid level 0: size must be non-negative"),
        ([(100.0, 1.0)], [(101.0, float("nan"))], "ask level 0: size must be non-negative"),
        ([(0.0, 1.0)], [(101.0, 1.0)], "bid level 0: price must be positive"),
        ([(100.0, 1.0, 2.0)], [(101.0, 1.0)], r"expected \(price, size\)"),
    ],
)
def test_invalid_books_raise(
    bids: list[tuple[float, ...]], asks: list[tuple[float, ...]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        OrderBookSnapshot(timestamp=T0, bids=bids, asks=asks)  # type: ignore[arg-type]


@pytest.mark.parametrize("depth", [0, -3])
def test_bad_depth_raises(depth: int) -> None:
    book = _book(bids=[(100.0, 1.0)], asks=[(101.0, 1.0)])
    with pytest.raises(ValueError, match="depth"):
        calculate_imbalance(book, depth=depth)
    with pytest.raises(ValueError, match="depth"):
        detect_whale_walls(book, depth=depth)
