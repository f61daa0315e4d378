"""Execution logic shared by the paper and live trader: pure values and rules, no I/O.

- :mod:`~alphaloop.execution.model`: ``OrderIntent``, ``VenueOrder``, ``Fill``, ``Position``,
  ``OrderStatus``.
- :mod:`~alphaloop.execution.ids`: deterministic client order ids; the order for a target.
- :mod:`~alphaloop.execution.fills`: idempotent, order-independent fill aggregation.
- :mod:`~alphaloop.execution.reconcile`: store vs venue, the not-found rule, the report.
- :mod:`~alphaloop.execution.config`: ``ExecutionParams`` (``trader.execution`` in params).

The I/O (brokers, the state store, the executor) lives in the ``trader`` package.
"""

from alphaloop.execution.config import ExecutionParams
from alphaloop.execution.fills import (
    FillConflict,
    FillSummary,
    apply_fill,
    cash_from_fills,
    dedupe_fills,
    new_fills,
    position_from_fills,
    summarize_fills,
)
from alphaloop.execution.ids import (
    check_client_order_id,
    client_order_id,
    intent_id,
    order_for_target,
    same_quantity,
)
from alphaloop.execution.model import (
    IN_DOUBT_STATUSES,
    TERMINAL_STATUSES,
    Fill,
    OrderIntent,
    OrderStatus,
    Position,
    Side,
    VenueOrder,
)
from alphaloop.execution.reconcile import (
    NotFoundPolicy,
    OrderResolution,
    PositionDifference,
    ReconciliationReport,
    TrackedOrder,
    compare_positions,
    resolve_order,
)

__all__ = [
    "IN_DOUBT_STATUSES", "TERMINAL_STATUSES", "ExecutionParams", "Fill", "FillConflict",
    "FillSummary", "NotFoundPolicy", "OrderIntent", "OrderResolution", "OrderStatus",
    "Position", "PositionDifference", "ReconciliationReport", "Side", "TrackedOrder",
    "VenueOrder", "apply_fill", "cash_from_fills", "check_client_order_id", "client_order_id",
    "compare_positions", "dedupe_fills", "intent_id", "new_fills", "order_for_target",
    "position_from_fills", "resolve_order", "same_quantity", "summarize_fills",
]
