"""Deterministic client order ids and the order that moves a position to its target."""

from __future__ import annotations

import base64
import hashlib
import math
import re
from datetime import datetime

from alphaloop.execution.model import Side, check_utc

# Binance's limit (newClientOrderId: at most 36 of [.A-Z:/a-z0-9_-]); other venues allow as
# much or more, so the strictest common subset is used: letters, digits, '-' and '_'.
MAX_CLIENT_ORDER_ID_LENGTH = 36
CLIENT_ORDER_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
_PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9]{1,8}$")
_DIGEST_CHARS = 26  # base32 characters: 130 bits, so distinct keys never collide in practice


def client_order_id(account: str, symbol: str, bar_time: datetime, sequence: int,
                    prefix: str = "al") -> str:
    """The client order id of the ``sequence``-th order for ``symbol`` at ``bar_time``.

    The same inputs always give the same id, so an id can be recomputed and looked up after a
    crash; different inputs give different ids (a 130-bit hash of the four values). The result
    is ``prefix-<26 base32 chars>``, at most 35 characters of ``[A-Za-z0-9_-]``.
    """
    if not _PREFIX_PATTERN.match(prefix):
        raise ValueError(f"client order id prefix must be 1-8 letters or digits, got {prefix!r}")
    if sequence < 0:
        raise ValueError(f"sequence must be >= 0, got {sequence}")
    when = check_utc(bar_time, "bar_time").isoformat()
    key = "\x1f".join((account, symbol, when, str(sequence))).encode()
    digest = base64.b32encode(hashlib.sha256(key).digest()).decode().lower()
    return f"{prefix}-{digest[:_DIGEST_CHARS]}"


def intent_id(account: str, symbol: str, bar_time: datetime, sequence: int) -> str:
    """The readable key of an intent: ``account:symbol:bar_time:sequence``."""
    return f"{account}:{symbol}:{check_utc(bar_time, 'bar_time').isoformat()}:{sequence}"


def check_client_order_id(value: str) -> str:
    """``value`` if it fits every venue's limits, else a ValueError saying why."""
    if not CLIENT_ORDER_ID_PATTERN.match(value):
        raise ValueError(f"client order id {value!r} must be 1-{MAX_CLIENT_ORDER_ID_LENGTH} "
                         f"characters of [A-Za-z0-9_-]")
    return value


def same_quantity(a: float, b: float, tolerance: float) -> bool:
    """Whether two quantities agree within ``tolerance * max(1, |a|, |b|)``."""
    return abs(a - b) <= tolerance * max(1.0, abs(a), abs(b))


def order_for_target(current: float, target: float,
                     tolerance: float) -> tuple[Side, float] | None:
    """The market order that moves ``current`` to ``target``, or ``None`` if they agree.

    Differences within :func:`same_quantity`'s tolerance are float noise, not orders.
    """
    for value, what in ((current, "current position"), (target, "target quantity")):
        if not math.isfinite(value):
            raise ValueError(f"{what} must be finite, got {value!r}")
    if same_quantity(current, target, tolerance):
        return None
    delta = target - current
    return ("buy" if delta > 0 else "sell"), abs(delta)
