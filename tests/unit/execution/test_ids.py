from datetime import UTC, datetime, timedelta, timezone

import pytest

from alphaloop.execution import (
    check_client_order_id,
    client_order_id,
    intent_id,
    order_for_target,
)

BAR = datetime(2024, 3, 1, 12, 15, tzinfo=UTC)


def test_client_order_id_is_deterministic_and_fits_binance() -> None:
    first = client_order_id("run-1", "BTC/USDT", BAR, 0)
    assert first == client_order_id("run-1", "BTC/USDT", BAR, 0)
    assert len(first) <= 36
    assert check_client_order_id(first) == first
    # the same instant in another zone is the same bar
    same_bar = BAR.astimezone(timezone(timedelta(hours=2)))
    assert client_order_id("run-1", "BTC/USDT", same_bar, 0) == first


@pytest.mark.parametrize("change", [
    {"account": "run-2"}, {"symbol": "ETH/USDT"}, {"bar_time": BAR + timedelta(minutes=15)},
    {"sequence": 1},
])
def test_client_order_id_changes_with_every_input(change: dict) -> None:  # type: ignore[type-arg]
    args = {"account": "run-1", "symbol": "BTC/USDT", "bar_time": BAR, "sequence": 0}
    assert client_order_id(**{**args, **change}) != client_order_id(**args)


def test_ids_are_distinct_over_many_bars() -> None:
    ids = {client_order_id("a", s, BAR + timedelta(minutes=15 * i), q)
           for i in range(2000) for s in ("BTC/USDT", "ETH/USDT") for q in range(3)}
    assert len(ids) == 12_000


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        client_order_id("a", "BTC/USDT", datetime(2024, 1, 1), 0)
    with pytest.raises(ValueError, match="prefix"):
        client_order_id("a", "BTC/USDT", BAR, 0, prefix="no-dash")
    with pytest.raises(ValueError, match="36"):
        check_client_order_id("x" * 37)
    with pytest.raises(ValueError, match="36"):
        check_client_order_id("has space")


def test_intent_id_is_readable() -> None:
    assert intent_id("run-1", "BTC/USDT", BAR, 2) == "run-1:BTC/USDT:2024-03-01T12:15:00+00:00:2"


@pytest.mark.parametrize(("current", "target", "expected"), [
    (0.0, 1.5, ("buy", 1.5)),
    (1.5, -0.5, ("sell", 2.0)),
    (-1.0, 0.0, ("buy", 1.0)),
    (1.0, 1.0, None),
    (0.1 + 0.2, 0.3, None),  # float noise is not an order
])
def test_order_for_target(current: float, target: float, expected: object) -> None:
    assert order_for_target(current, target, tolerance=1e-9) == expected


def test_order_for_target_refuses_nan() -> None:
    with pytest.raises(ValueError, match="target"):
        order_for_target(0.0, float("nan"), 1e-9)
