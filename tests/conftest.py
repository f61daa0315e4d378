"""Shared test set-up: no telemetry or network, and small real-looking bar frames."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.common import OFFLINE_ENV, RUNTIME_ENV

REPO = Path(__file__).resolve().parents[1]

for _key, _value in {**OFFLINE_ENV, **RUNTIME_ENV}.items():
    os.environ.setdefault(_key, _value)


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that tries to reach beyond this machine."""
    real_connect = socket.socket.connect

    def guarded(sock: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else str(address)
        if isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost") \
                and sock.family in (socket.AF_INET, socket.AF_INET6):
            raise RuntimeError(f"test tried to reach {address}: no network in tests")
        return real_connect(sock, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


def make_raw_bars(n: int = 600, freq: str = "15min", seed: int = 0,
                  start: str = "2024-01-01") -> pd.DataFrame:
    """Raw bars as a source produces them: consistent OHLCV on a clean grid."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    open_ = np.r_[close[0], close[:-1]]
    spread = np.abs(rng.normal(0, 0.001, n)) * close
    frame = pd.DataFrame({
        "timestamp": pd.date_range(start, periods=n, freq=freq, tz="UTC"),
        "open": open_,
        "high": np.maximum(open_, close) + spread,
        "low": np.minimum(open_, close) - spread,
        "close": close,
        "volume": rng.integers(1, 1000, n).astype(float),
    })
    frame["utc_offset"] = pd.Series(["+00:00"] * n, dtype="string")
    frame["symbol"] = "TEST"
    frame["timeframe"] = "15m" if freq == "15min" else "1d"
    return frame


@pytest.fixture
def raw_bars() -> pd.DataFrame:
    return make_raw_bars()
