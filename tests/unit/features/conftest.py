"""Synthetic OHLCV bars for the feature tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest


def make_bars(n: int = 1500, seed: int = 7, zero_volume_share: float = 0.24) -> pd.DataFrame:
    """Random-walk minute bars with clustered, flat zero-volume stretches.

    Zero-volume bars repeat the previous close as open/high/low/close, like an exchange
    feed with no trades, and a long flat gap exercises degenerate windows (zero std,
    zero range, all-zero volume).
    """
    rng = np.random.default_rng(seed)
    vol = 1e-3 * np.exp(np.cumsum(rng.normal(0.0, 0.02, n)).clip(-1.0, 1.0))
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1.0, n) * vol))
    open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0.0, 1e-4, n))
    wick = np.abs(rng.normal(0.0, 1.0, (2, n))) * vol
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    volume = rng.lognormal(2.0, 1.0, n)
    # Idle spells of geometric length, ~zero_volume_share of bars in total.
    idle = np.zeros(n, dtype=bool)
    i = 0
    while i < n:
        if rng.random() < zero_volume_share / 4.0:
            length = int(rng.geometric(0.25))
            idle[i : i + length] = True
            i += length
        i += 1
    gap = 2 * n // 3  # after the default warm-up (597 rows)
    idle[gap : gap + 80] = True  # longer than the longest default window (50)
    idle[0] = False
    for t in np.flatnonzero(idle):
        open_[t] = high[t] = low[t] = close[t] = close[t - 1]
    volume[idle] = 0.0
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=n, freq="1min", tz="UTC"),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "symbol": "BTCUSDT",
            "timeframe": "1m",
            "zero_volume": idle,
        }
    )


@pytest.fixture
def bars_factory() -> Callable[..., pd.DataFrame]:
    """Factory for synthetic bars: ``bars_factory(n=1500, seed=7)``."""
    return make_bars


@pytest.fixture
def bars() -> pd.DataFrame:
    """1500 synthetic bars with ~24% zero-volume bars."""
    return make_bars()
