"""A fault-injection hook for crash tests: SIGKILL this process at a named point.

Set ``ALPHALOOP_FAULT_KILL_AT=<point>`` (the first time the process reaches it) or
``<point>@<n>`` (the n-th time). Points in the executor: ``intent_stored`` (the intent is
committed, nothing sent yet) and ``order_sent`` (the venue accepted the order, its answer is
not stored yet). Unset — the default — the hook does nothing. It exists so tests can kill
the real code path at an exact point; it is never set in production.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

FAULT_ENV = "ALPHALOOP_FAULT_KILL_AT"
POINTS = ("intent_stored", "order_sent")
_reached: Counter[str] = Counter()


def fault_point(name: str) -> None:
    """Kill this process with SIGKILL if ``ALPHALOOP_FAULT_KILL_AT`` names this visit."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    point, _, nth = spec.partition("@")
    if point not in POINTS:
        raise ValueError(f"{FAULT_ENV}={spec!r}: the point must be one of {', '.join(POINTS)}")
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
