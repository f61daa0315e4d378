"""Level-2 order-book features: depth imbalance, whale walls, spread."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Side = Literal["bid", "ask"]
Level = tuple[float, float]


@dataclass(frozen=True)
class WhaleWall:
    """A price level much larger than its neighbours.

    Attributes:
        side: ``"bid"`` or ``"ask"``.
        price: Level price.
        size: Level size.
        strength: Level size divided by the median level size on that side.
    """

    side: Side
    price: float
    size: float
    strength: float


@dataclass(frozen=True)
class OrderBookSnapshot:
    """An L2 snapshot; bids best (highest) first, asks best (lowest) first.

    Levels are stored as tuples of ``(price, size)`` floats. Construction raises
    ValueError for non-positive prices, negative or non-finite sizes, unsorted or
    duplicated price levels and crossed or locked books.

    Attributes:
        timestamp: Snapshot time.
        bids: ``(price, size)`` levels, prices strictly descending.
        asks: ``(price, size)`` levels, prices strictly ascending.
    """

    timestamp: datetime
    bids: Sequence[Level]
    asks: Sequence[Level]

    def __post_init__(self) -> None:
        bids = _validated_levels("bid", self.bids, descending=True)
        asks = _validated_levels("ask", self.asks, descending=False)
        if bids and asks and bids[0][0] >= asks[0][0]:
            raise ValueError(
                f"crossed book at {self.timestamp}: best bid {bids[0][0]} >= best ask {asks[0][0]}"
            )
        # Freeze caller-supplied lists so the snapshot is truly immutable.
        object.__setattr__(self, "bids", bids)
        object.__setattr__(self, "asks", asks)


def _validated_levels(
    side: Side, levels: Iterable[Sequence[float]], *, descending: bool
) -> tuple[Level, ...]:
    out: list[Level] = []
    for i, level in enumerate(levels):
        if len(level) != 2:
            raise ValueError(f"{side} level {i}: expected (price, size), got {level!r}")
        price, size = float(level[0]), float(level[1])
        if not (math.isfinite(price) and price > 0.0):
            raise ValueError(f"{side} level {i}: price must be positive and finite, got {price}")
        if not (math.isfinite(size) and size >= 0.0):
            raise ValueError(f"{side} level {i}: size must be non-negative, got {size}")
        if out:
            prev = out[-1][0]
            if (price >= prev) if descending else (price <= prev):
                order = "descending" if descending else "ascending"
                raise ValueError(
                    f"{side} level {i}: prices must be strictly {order}, got {prev} then {price}"
                )
        out.append((price, size))
    return tuple(out)


def _check_depth(depth: int) -> None:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive integer, got {depth!r}")


def calculate_imbalance(book: OrderBookSnapshot, depth: int = 10) -> float:
    """Depth imbalance ``(bid_volume - ask_volume) / (bid_volume + ask_volume)``.

    Args:
        book: Snapshot.
        depth: Levels per side to include.

    Returns:
        A value in [-1, 1]; positive means more resting bids. 0.0 for an empty book.
    """
    _check_depth(depth)
    bid_volume = sum(size for _, size in book.bids[:depth])
    ask_volume = sum(size for _, size in book.asks[:depth])
    total = bid_volume + ask_volume
    return 0.0 if total == 0.0 else (bid_volume - ask_volume) / total


def _strengths(levels: Sequence[Level], depth: int) -> list[float]:
    top = levels[:depth]
    if not top:
        return []
    median = statistics.median(size for _, size in top)
    # With a zero median (mostly empty levels) relative size is undefined.
    return [size / median for _, size in top] if median > 0.0 else [0.0] * len(top)


def detect_whale_walls(
    book: OrderBookSnapshot, depth: int = 20, threshold: float = 5.0
) -> list[WhaleWall]:
    """Levels whose size is at least ``threshold`` times the side's median level size.

    Args:
        book: Snapshot.
        depth: Levels per side considered (and used for the median).
        threshold: Minimum strength for a level to count as a wall.

    Returns:
        Walls sorted by strength, strongest first (ties: bids first, then book order).
    """
    _check_depth(depth)
    if not (math.isfinite(threshold) and threshold > 0.0):
        raise ValueError(f"threshold must be positive and finite, got {threshold!r}")
    walls: list[WhaleWall] = []
    sides: tuple[tuple[Side, Sequence[Level]], ...] = (("bid", book.bids), ("ask", book.asks))
    for side, levels in sides:
        for (price, size), strength in zip(levels, _strengths(levels, depth), strict=False):
            if strength >= threshold:
                walls.append(WhaleWall(side, price, size, strength))
    walls.sort(key=lambda w: w.strength, reverse=True)
    return walls


def orderbook_features(book: OrderBookSnapshot) -> dict[str, float]:
    """Snapshot summary for the trader.

    Args:
        book: Snapshot.

    Returns:
        ``imbalance_5/10/20``, ``mid``, ``spread_bps`` (NaN when a side is empty) and
        ``bid_wall_strength``/``ask_wall_strength`` (largest level strength within 20
        levels, 0.0 for an empty side).
    """
    if book.bids and book.asks:
        bid, ask = book.bids[0][0], book.asks[0][0]
        mid = 0.5 * (bid + ask)
        spread_bps = (ask - bid) / mid * 1e4
    else:
        mid = spread_bps = math.nan
    return {
        "imbalance_5": calculate_imbalance(book, 5),
        "imbalance_10": calculate_imbalance(book, 10),
        "imbalance_20": calculate_imbalance(book, 20),
        "mid": mid,
        "spread_bps": spread_bps,
        "bid_wall_strength": max(_strengths(book.bids, 20), default=0.0),
        "ask_wall_strength": max(_strengths(book.asks, 20), default=0.0),
    }
