"""Windows of one-bar log returns, their targets, the time split and the normalisation.

Conventions (``p`` the closes, ``r[t] = log(p[t] / p[t-1])`` the return of bar ``t``, ``c`` the
context length, ``h`` the horizon). Window ``t`` (its *origin*, the last bar whose close is
known) has:

- input: ``r[t-c+1 .. t]``, the last ``c`` one-bar returns (``c + 1`` closes);
- targets: the ``h``-bar log return ``log(p[t+h] / p[t])`` and the realised volatility
  ``sqrt(sum(r[t+1 .. t+h]^2))``;
- persistence values: the same two quantities over the ``h`` bars ending at ``t``
  (``log(p[t] / p[t-h])`` and ``sqrt(sum(r[t-h+1 .. t]^2))``).

Origins run from ``max(c, h)`` to ``len(p) - 1 - h``, one window per bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

RETURN, VOLATILITY = 0, 1  # target columns


def check_prices(prices: pd.Series | np.ndarray | list[float], minimum: int) -> np.ndarray:
    """Closes as a float64 array, refusing anything a log return cannot be taken of.

    Args:
        prices: Closes in time order.
        minimum: Fewest closes accepted.

    Raises:
        ValueError: If the input is not 1-D, holds fewer than ``minimum`` closes, or holds a
            non-finite or non-positive close.
    """
    values = np.asarray(prices, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"prices must be 1-D, got shape {values.shape}")
    if values.size < minimum:
        raise ValueError(f"need at least {minimum} prices, got {values.size}")
    bad = ~np.isfinite(values) | (values <= 0.0)
    if bad.any():
        raise ValueError(f"prices must be finite and positive; {int(bad.sum())} are not "
                         f"(first at position {int(np.flatnonzero(bad)[0])})")
    return values


def log_returns(prices: pd.Series | np.ndarray) -> np.ndarray:
    """One-bar log returns ``log(p[t] / p[t-1])``: one fewer than the closes."""
    return np.diff(np.log(check_prices(prices, 2)))


@dataclass(frozen=True)
class Windows:
    """Every window of a price series (see the module docstring).

    Attributes:
        inputs: ``(m, c)`` one-bar log returns ending at each origin.
        targets: ``(m, 2)`` future ``h``-bar log return and realised volatility.
        persistence: ``(m, 2)`` the same over the ``h`` bars ending at each origin.
        origins: ``(m,)`` bar index of each window's last known close.
    """

    inputs: np.ndarray
    targets: np.ndarray
    persistence: np.ndarray
    origins: np.ndarray

    def __len__(self) -> int:
        return int(self.origins.size)


def make_windows(prices: pd.Series | np.ndarray, context_length: int,
                 horizon: int) -> Windows:
    """Inputs, targets and persistence values for every bar with a full context and future.

    Raises:
        ValueError: On bad prices or too few of them for a single window.
    """
    first = max(context_length, horizon)
    p = check_prices(prices, first + horizon + 1)
    log_p = np.log(p)
    r = np.diff(log_p)  # r[j] is the return of bar j + 1
    origins = np.arange(first, p.size - horizon)
    # Sums of h squared returns; squared[k] covers bars k+1..k+h.
    squared = sliding_window_view(r * r, horizon).sum(axis=1)
    inputs = sliding_window_view(r, context_length)[origins - context_length]
    targets = np.column_stack([log_p[origins + horizon] - log_p[origins],
                               np.sqrt(squared[origins])])
    persistence = np.column_stack([log_p[origins] - log_p[origins - horizon],
                                   np.sqrt(squared[origins - horizon])])
    return Windows(np.ascontiguousarray(inputs), targets, persistence, origins)


@dataclass(frozen=True)
class Split:
    """Positions (into ``Windows``) of the training and test windows, in time order."""

    train: np.ndarray
    test: np.ndarray
    gap: int


def time_split(n_windows: int, test_fraction: float, gap: int) -> Split:
    """The last ``test_fraction`` of the windows for test, ``gap`` windows dropped before it.

    With ``gap = c + h`` the last training window (origin ``t``, reading bars ``t-c..t+h``)
    and the first test window (origin ``t + c + h + 1``, reading from bar ``t + h + 1``)
    share no bar: no test return is an input or a target of training.

    Raises:
        ValueError: If fewer than two training windows would remain.
    """
    n_test = max(1, round(n_windows * test_fraction))
    n_train = n_windows - n_test - gap
    if n_train < 2:
        raise ValueError(f"{n_windows} windows are too few for a test share of "
                         f"{test_fraction} and a gap of {gap}: {max(n_train, 0)} left to train")
    return Split(np.arange(n_train), np.arange(n_windows - n_test, n_windows), gap)


@dataclass(frozen=True)
class Scaling:
    """Standardisation of inputs and targets, fitted on training windows only.

    Attributes:
        input_mean: Mean of the one-bar returns the training inputs hold.
        input_std: Their standard deviation.
        target_mean: Mean of the training targets (return, volatility).
        target_std: Their standard deviations.
    """

    input_mean: float
    input_std: float
    target_mean: tuple[float, float]
    target_std: tuple[float, float]

    @classmethod
    def fit(cls, windows: Windows, train: np.ndarray) -> Scaling:
        """Statistics of the training windows (each one-bar return counted once)."""
        inputs = windows.inputs[train]
        returns = np.r_[inputs[0], inputs[1:, -1]]
        targets = windows.targets[train]
        t_mean, t_std = targets.mean(axis=0), targets.std(axis=0)
        return cls(float(returns.mean()), _positive(float(returns.std())),
                   (float(t_mean[0]), float(t_mean[1])),
                   (_positive(float(t_std[0])), _positive(float(t_std[1]))))

    def inputs(self, values: np.ndarray) -> np.ndarray:
        """Standardised inputs, float32."""
        return ((values - self.input_mean) / self.input_std).astype(np.float32)

    def targets(self, values: np.ndarray) -> np.ndarray:
        """Standardised targets, float32."""
        mean, std = np.asarray(self.target_mean), np.asarray(self.target_std)
        return ((values - mean) / std).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"input_mean": self.input_mean, "input_std": self.input_std,
                "target_mean": list(self.target_mean), "target_std": list(self.target_std)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scaling:
        """Inverse of ``to_dict``."""
        mean, std = data["target_mean"], data["target_std"]
        return cls(float(data["input_mean"]), float(data["input_std"]),
                   (float(mean[0]), float(mean[1])), (float(std[0]), float(std[1])))


def _positive(std: float) -> float:
    # A constant series has std 0; 1 keeps the division defined and changes nothing.
    return std if std > 0.0 else 1.0
