"""The ``trader.execution`` section of ``params.yaml``: how orders are placed and recovered."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from alphaloop.execution.reconcile import NotFoundPolicy


class ExecutionParams(BaseModel):
    """Order placement and recovery settings.

    Attributes:
        client_order_prefix: First characters of every client order id (1-8 letters/digits),
            to tell this system's orders apart on the venue.
        submit_timeout_s: A submit with no answer after this long is ``unknown`` (the venue is
            then asked by client order id before anything else is sent).
        not_found_polls: Consecutive "no such order" answers before an order that may not
            have reached the venue is declared ``not_placed``.
        not_found_grace_s: ... and the least time between the first and the last of those
            answers. Keep it above the venue's receive window (Binance: 10 s in ccxt).
        quantity_tolerance: Quantities within ``tolerance * max(1, |q|)`` are equal (float
            noise, not an order or a reconciliation difference).
        cash_tolerance: The same, for cash.
        check_cash: Compare cash with the venue's quote balance when reconciling (turn off
            for an account with deposits/withdrawals the trader does not know about).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_order_prefix: str = Field(default="al", pattern=r"^[A-Za-z0-9]{1,8}$")
    submit_timeout_s: float = Field(default=30.0, gt=0)
    not_found_polls: int = Field(default=3, ge=1)
    not_found_grace_s: float = Field(default=60.0, ge=0)
    quantity_tolerance: float = Field(default=1e-9, ge=0, lt=1e-3)
    cash_tolerance: float = Field(default=1e-6, ge=0, lt=1e-2)
    check_cash: bool = True

    @property
    def not_found(self) -> NotFoundPolicy:
        return NotFoundPolicy(polls=self.not_found_polls, grace_s=self.not_found_grace_s)
