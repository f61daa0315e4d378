"""Decision rules: turn a classifier's P(up) into a target position.

The backtester and the paper/live trader call the same functions, so a backtest and a paper
run of the same bars and the same model produce the same decisions.

Rules (``p`` is P(up) for the next move, known at the bar's close):

- direction: ``+1`` when ``p >= long_threshold``; ``-1`` when ``p <= short_threshold`` and
  ``allow_short``; ``0`` otherwise. Long wins a tie (``long_threshold == short_threshold``
  and ``p`` equal to both). A NaN probability means "no signal" and gives ``0``.
- size, as a signed fraction of equity:

  - ``sizing="fixed"``: ``direction * max_position``.
  - ``sizing="confidence"``: ``direction * max_position * |2p - 1|``. The size grows
    linearly with the distance of ``p`` from a coin flip: ``p = 0.55`` gives 10% of
    ``max_position``, ``p = 1`` (or ``0``) all of it. It never exceeds ``max_position``.

Parameters come in two models: :class:`SignalParams` holds the decision rules (all the
trader needs) and :class:`BacktestParams` adds the simulated costs as flat fields; it is the
``backtest:`` section of ``params.yaml`` and can be passed anywhere a ``SignalParams`` is
expected.
"""

from __future__ import annotations

from typing import Literal, Self, overload

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

# Upper bound on |position| as a fraction of equity: a guard against typos, not a margin model.
MAX_LEVERAGE = 5.0

Sizing = Literal["fixed", "confidence"]


class SignalParams(BaseModel):
    """Decision rules from P(up) to a target position.

    Attributes:
        long_threshold: Go long when P(up) is at least this.
        short_threshold: Go short when P(up) is at most this (and shorts are allowed).
        allow_short: When false, the short side is flat instead.
        sizing: ``"fixed"`` (always ``max_position``) or ``"confidence"`` (scaled by
            ``|2p - 1|``).
        max_position: Largest absolute position, as a fraction of equity (leverage above 1).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    long_threshold: float = Field(default=0.55, ge=0.0, le=1.0, allow_inf_nan=False)
    short_threshold: float = Field(default=0.45, ge=0.0, le=1.0, allow_inf_nan=False)
    allow_short: bool = True
    sizing: Sizing = "fixed"
    max_position: float = Field(default=1.0, gt=0.0, le=MAX_LEVERAGE, allow_inf_nan=False)

    @model_validator(mode="after")
    def _check_thresholds(self) -> Self:
        if self.short_threshold > self.long_threshold:
            raise ValueError(
                f"short_threshold ({self.short_threshold}) must not exceed "
                f"long_threshold ({self.long_threshold})"
            )
        return self


# Typical one-way costs per unit of traded notional, in basis points (fee, slippage):
# - crypto: 10 bps taker fee (Binance spot's base tier), 5 bps slippage;
# - equity: 1 bp for commission and regulatory fees at a low-cost broker, 2 bps for half the
#   spread of a liquid large-cap stock or index ETF;
# - fx: 0.5 bp commission at an ECN broker (~$25-35 per million each side), 1 bp for half
#   the spread of a major pair.
# They are starting points: use `custom` with your broker's fees and your own fills.
COST_PRESETS: dict[str, tuple[float, float]] = {
    "crypto": (10.0, 5.0),
    "equity": (1.0, 2.0),
    "fx": (0.5, 1.0),
}
CostPreset = Literal["crypto", "equity", "fx", "custom"]


class BacktestParams(SignalParams):
    """The ``backtest:`` section of ``params.yaml``: decision rules plus simulated costs.

    Costs are charged on the traded notional, ``|Δposition| * (fee_bps + slippage_bps) / 1e4``
    of equity (see :func:`alphaloop.backtest.run_backtest`). ``costs`` names a preset
    (``COST_PRESETS``) that sets both figures; ``custom`` takes ``fee_bps`` and
    ``slippage_bps`` as given (figures given without ``costs`` mean ``custom``).

    Attributes:
        costs: ``crypto`` | ``equity`` | ``fx`` | ``custom``.
        fee_bps: Exchange fee per unit of traded notional, in basis points.
        slippage_bps: Assumed slippage per unit of traded notional, in basis points.
    """

    costs: CostPreset = "crypto"
    fee_bps: float = Field(default=10.0, ge=0.0, le=10_000.0, allow_inf_nan=False)
    slippage_bps: float = Field(default=5.0, ge=0.0, le=10_000.0, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        explicit = [k for k in ("fee_bps", "slippage_bps") if data.get(k) is not None]
        if "costs" not in data and explicit:
            # Figures without a preset are the user's own (the rest from the default preset).
            fee, slippage = COST_PRESETS["crypto"]
            return {"fee_bps": fee, "slippage_bps": slippage, **data, "costs": "custom"}
        preset = data.get("costs", "crypto")
        if preset == "custom":
            missing = [k for k in ("fee_bps", "slippage_bps") if data.get(k) is None]
            if missing:
                raise ValueError(f"costs: custom needs {' and '.join(missing)}")
            return data
        if preset not in COST_PRESETS:
            return data  # the Literal check names the choices
        fee, slippage = COST_PRESETS[preset]
        for key, value in (("fee_bps", fee), ("slippage_bps", slippage)):
            given = data.get(key)
            if given is not None and float(given) != value:
                raise ValueError(f"{key}={given} contradicts costs: {preset} ({key}={value:g}); "
                                 "set costs: custom to give your own figures")
        return {**data, "fee_bps": fee, "slippage_bps": slippage}

    @property
    def cost_description(self) -> str:
        """E.g. ``crypto preset: 10 bps fee + 5 bps slippage``."""
        return (f"{self.costs}{' preset' if self.costs != 'custom' else ' costs'}: "
                f"{self.fee_bps:g} bps fee + {self.slippage_bps:g} bps slippage")

    @property
    def signal(self) -> SignalParams:
        """The decision rules alone, as the trader uses them."""
        return SignalParams(**self.model_dump(include=set(SignalParams.model_fields)))


@overload
def decide_direction(prob_up: float, params: SignalParams) -> int: ...
@overload
def decide_direction(prob_up: np.ndarray, params: SignalParams) -> np.ndarray: ...
@overload
def decide_direction(prob_up: pd.Series, params: SignalParams) -> pd.Series: ...
def decide_direction(
    prob_up: float | np.ndarray | pd.Series, params: SignalParams
) -> int | float | np.ndarray | pd.Series:
    """Direction per probability: ``+1`` long, ``-1`` short, ``0`` flat.

    Args:
        prob_up: P(up), a scalar, an array or a Series; NaN means no signal.
        params: The decision rules.

    Returns:
        An ``int`` for a scalar input, else an int8 array (a Series keeps its index).

    Raises:
        ValueError: If a finite probability lies outside ``[0, 1]``.
    """
    p = _probabilities(prob_up)
    # NaN compares false on both sides, so a missing probability stays flat.
    direction = np.where(p >= params.long_threshold, 1, 0).astype(np.int8)
    if params.allow_short:
        short = (p <= params.short_threshold) & (direction == 0)
        direction[short] = -1
    return _like(prob_up, direction, "direction")


@overload
def size_positions(direction: float, prob_up: float, params: SignalParams) -> float: ...
@overload
def size_positions(
    direction: np.ndarray | pd.Series, prob_up: np.ndarray, params: SignalParams
) -> np.ndarray: ...
@overload
def size_positions(
    direction: np.ndarray | pd.Series, prob_up: pd.Series, params: SignalParams
) -> pd.Series: ...
def size_positions(
    direction: float | np.ndarray | pd.Series,
    prob_up: float | np.ndarray | pd.Series,
    params: SignalParams,
) -> float | np.ndarray | pd.Series:
    """Signed target position, as a fraction of equity, for each direction.

    Args:
        direction: ``+1``, ``-1`` or ``0`` per probability (see :func:`decide_direction`).
        prob_up: The probabilities the directions came from (used by confidence sizing).
        params: The decision rules.

    Returns:
        A ``float`` for a scalar ``prob_up``, else a float array (a Series keeps its index).
    """
    p = _probabilities(prob_up)
    d = np.asarray(direction, dtype=np.float64)
    if d.shape != p.shape:
        raise ValueError(f"direction has shape {d.shape} but prob_up has shape {p.shape}")
    size = np.full(p.shape, params.max_position)
    if params.sizing == "confidence":
        size = size * np.abs(2.0 * np.nan_to_num(p, nan=0.5) - 1.0)
    # 0.0 * size keeps flat bars at +0.0 rather than -0.0.
    position = np.where(d != 0.0, d * size, 0.0)
    return _like(prob_up, position, "position")


@overload
def target_positions(prob_up: float, params: SignalParams) -> float: ...
@overload
def target_positions(prob_up: np.ndarray, params: SignalParams) -> np.ndarray: ...
@overload
def target_positions(prob_up: pd.Series, params: SignalParams) -> pd.Series: ...
def target_positions(
    prob_up: float | np.ndarray | pd.Series, params: SignalParams
) -> float | np.ndarray | pd.Series:
    """Target position (signed fraction of equity) per P(up): direction, then size.

    Args:
        prob_up: P(up), a scalar (one bar, as the trader calls it), an array or a Series.
        params: The decision rules.

    Returns:
        A ``float`` for a scalar input, else a float array (a Series keeps its index).
    """
    p = _probabilities(prob_up)
    position = size_positions(decide_direction(p, params), p, params)
    return _like(prob_up, position, "position")


def _probabilities(prob_up: float | np.ndarray | pd.Series) -> np.ndarray:
    p = np.asarray(prob_up, dtype=np.float64)
    finite = p[np.isfinite(p)]
    if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
        raise ValueError(
            f"probabilities must lie in [0, 1], got values in [{finite.min()}, {finite.max()}]"
        )
    return p


def _like(
    template: float | np.ndarray | pd.Series, values: float | np.ndarray, name: str
) -> int | float | np.ndarray | pd.Series:
    """Return ``values`` in the shape of the caller's input: scalar, array or Series."""
    values = np.asarray(values)
    if isinstance(template, pd.Series):
        return pd.Series(values, index=template.index, name=name)
    if values.ndim == 0:
        item: int | float = values.item()
        return item
    return values
