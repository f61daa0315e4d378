"""Windows, targets and persistence values by hand; the time split keeps its gap."""

from __future__ import annotations

import numpy as np
import pytest

from alphaloop.models.regime.data import (
    Scaling,
    check_prices,
    log_returns,
    make_windows,
    time_split,
)

PRICES = np.array([100.0, 101.0, 99.0, 102.0, 103.0, 100.0, 104.0])


def test_windows_by_hand() -> None:
    windows = make_windows(PRICES, context_length=2, horizon=2)
    r = np.log(PRICES[1:] / PRICES[:-1])  # r[j]: return of bar j + 1
    # Origins need 2 past returns and 2 future bars: t = 2, 3, 4.
    np.testing.assert_array_equal(windows.origins, [2, 3, 4])
    t = 3
    row = 1
    np.testing.assert_allclose(windows.inputs[row], [r[1], r[2]])  # bars 2 and 3
    np.testing.assert_allclose(windows.targets[row, 0], np.log(PRICES[5] / PRICES[3]))
    np.testing.assert_allclose(windows.targets[row, 1], np.sqrt(r[3] ** 2 + r[4] ** 2))
    # Persistence: the last h = 2 bars before and including t.
    np.testing.assert_allclose(windows.persistence[row, 0], np.log(PRICES[t] / PRICES[t - 2]))
    np.testing.assert_allclose(windows.persistence[row, 1], np.sqrt(r[1] ** 2 + r[2] ** 2))


def test_persistence_baseline_on_a_tiny_series() -> None:
    windows = make_windows(PRICES, context_length=1, horizon=1)
    # h = 1: persistence is the last one-bar return and its absolute value.
    expected = np.log(PRICES[1:-1] / PRICES[:-2])
    np.testing.assert_allclose(windows.persistence[:, 0], expected)
    np.testing.assert_allclose(windows.persistence[:, 1], np.abs(expected))
    np.testing.assert_allclose(windows.targets[:, 0], np.log(PRICES[2:] / PRICES[1:-1]))


def test_targets_depend_only_on_the_future_and_inputs_only_on_the_past() -> None:
    base = make_windows(PRICES, context_length=2, horizon=2)
    changed = PRICES.copy()
    changed[5] *= 1.5  # after every origin (2, 3, 4): in no input, in the targets of 3 and 4
    moved = make_windows(changed, context_length=2, horizon=2)
    np.testing.assert_array_equal(moved.inputs, base.inputs)
    np.testing.assert_array_equal(moved.targets[0], base.targets[0])
    assert not np.allclose(moved.targets[1:], base.targets[1:])


@pytest.mark.parametrize(("n", "fraction", "gap"), [(500, 0.2, 36), (101, 0.3, 10)])
def test_split_keeps_time_order_and_the_gap(n: int, fraction: float, gap: int) -> None:
    split = time_split(n, fraction, gap)
    assert split.test.size == round(n * fraction)
    assert split.test[-1] == n - 1
    assert np.all(np.diff(split.train) == 1) and np.all(np.diff(split.test) == 1)
    assert split.test[0] - split.train[-1] == gap + 1
    assert split.train.size + gap + split.test.size == n


def test_no_bar_is_shared_between_train_and_test_windows() -> None:
    context, horizon = 8, 3
    prices = 100.0 * np.exp(np.cumsum(np.full(200, 0.001)))
    windows = make_windows(prices, context, horizon)
    split = time_split(len(windows), 0.25, context + horizon)
    last_train = windows.origins[split.train[-1]]
    first_test = windows.origins[split.test[0]]
    # Training reads closes up to last_train + h; the first test window from first_test - c.
    assert first_test - context > last_train + horizon


def test_split_refuses_too_few_windows() -> None:
    with pytest.raises(ValueError, match="too few"):
        time_split(20, 0.5, 9)


def test_scaling_uses_training_windows_only() -> None:
    rng = np.random.default_rng(1)
    prices = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
    windows = make_windows(prices, 16, 4)
    split = time_split(len(windows), 0.2, 20)
    shocked = prices.copy()
    shocked[-40:] *= np.exp(np.cumsum(rng.normal(0, 0.2, 40)))
    shocked_windows = make_windows(shocked, 16, 4)
    assert Scaling.fit(windows, split.train) == Scaling.fit(shocked_windows, split.train)
    scaling = Scaling.fit(windows, split.train)
    assert Scaling.from_dict(scaling.to_dict()) == scaling
    z = scaling.inputs(windows.inputs[split.train])
    assert z.dtype == np.float32 and abs(float(z[:, -1].mean())) < 0.2


def test_bad_prices_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 5"):
        check_prices([1.0, 2.0], 5)
    with pytest.raises(ValueError, match="finite and positive"):
        log_returns(np.array([1.0, 0.0, 2.0]))
    with pytest.raises(ValueError, match="1-D"):
        check_prices(np.ones((3, 2)), 1)
    with pytest.raises(ValueError, match="at least"):
        make_windows(PRICES, context_length=5, horizon=2)
