"""Replay a sequence of target positions through the ``Executor`` against a paper venue.

    python -m trader.replay_driver --store URL --venue PATH --targets FILE [--account NAME]

``FILE`` holds one JSON object per line: ``{"bar_time": ISO, "symbol": S, "target": Q,
"price": P}``. For each line the driver sets the venue's price, records the decision, calls
:meth:`Executor.rebalance` (the trader's own code path) and marks the decision done. Started
again after a crash, it reconciles with the venue and resumes at the first line not done, so
it can be killed at any point and restarted until the sequence is complete. It prints one
JSON line per event: ``ready`` (after reconciliation: how long it took, how many orders were
in doubt), ``bar`` (a line replayed: its index), ``halted`` (reconciliation failed: exit 3)
and ``done``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from alphaloop.execution import ExecutionParams, Fill
from trader.brokers.paper import PaperBroker
from trader.executor import Executor, OrderInFlight, ReconciliationError
from trader.store import StateStore

_POLL_INTERVAL_S = 0.05
_MAX_POLLS = 200


def _emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True, help="state store URL")
    parser.add_argument("--schema", default=None, help="PostgreSQL schema for the store")
    parser.add_argument("--venue", required=True, type=Path, help="paper venue SQLite file")
    parser.add_argument("--targets", required=True, type=Path, help="JSON-lines targets")
    parser.add_argument("--account", default="replay")
    parser.add_argument("--initial-cash", type=float, default=100_000.0)
    parser.add_argument("--fee-bps", type=float, default=10.0)
    parser.add_argument("--slippage-bps", type=float, default=5.0)
    parser.add_argument("--not-found-polls", type=int, default=1,
                        help="the paper venue answers consistently: one miss is final")
    parser.add_argument("--not-found-grace-s", type=float, default=0.0)
    return parser


async def rebalance_when_settled(executor: Executor, symbol: str, target: float,
                                 price: float, decision_id: str,
                                 bar_time: datetime) -> list[Fill]:
    """``rebalance``, polling while an earlier order is still in doubt."""
    fills: list[Fill] = []
    for _ in range(_MAX_POLLS):
        try:
            return fills + await executor.rebalance(symbol, target, price, decision_id,
                                                    bar_time)
        except OrderInFlight:
            await asyncio.sleep(_POLL_INTERVAL_S)
            fills += await executor.poll(symbol)
    raise TimeoutError(f"{symbol}: an order stayed in doubt through {_MAX_POLLS} polls")


async def replay(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    store = StateStore(args.store, schema=args.schema)
    broker = PaperBroker(args.venue, initial_cash=args.initial_cash, fee_bps=args.fee_bps,
                         slippage_bps=args.slippage_bps)
    params = ExecutionParams(not_found_polls=args.not_found_polls,
                             not_found_grace_s=args.not_found_grace_s)
    executor = Executor(broker, store, args.account, params)
    try:
        in_doubt = [o.client_order_id for o in store.orders(args.account, unsettled_only=True)]
        try:
            report = await executor.start()
        except ReconciliationError as exc:
            _emit("halted", reason=str(exc))
            return 3
        _emit("ready", start_s=round(time.perf_counter() - started, 4), in_doubt=in_doubt,
              still_in_doubt=report.in_doubt, adopted=report.adopted)
        prices: dict[str, float] = {}
        lines = args.targets.read_text().splitlines()
        for index, line in enumerate(lines):
            if line and await _replay_line(executor, broker, json.loads(line), prices):
                _emit("bar", index=index)
        _emit("done", positions={s: p.quantity for s, p in executor.positions().items()},
              cash=executor.cash())
        return 0
    finally:
        await broker.close()
        store.close()


async def _replay_line(executor: Executor, broker: PaperBroker, target: dict[str, Any],
                       prices: dict[str, float]) -> bool:
    """Replay one target; ``False`` if an earlier run already did."""
    symbol, quantity, price = target["symbol"], float(target["target"]), float(target["price"])
    bar_time = datetime.fromisoformat(target["bar_time"])
    prices[symbol] = price
    decision_id = f"{executor.account}:{symbol}:{bar_time.isoformat()}"
    store = executor.store
    known = store.decision(decision_id)
    if known is not None and known.outputs.get("done"):
        return False
    broker.set_price(symbol, price, bar_time)
    inputs = {"target": quantity, "price": price}
    store.record_decision(decision_id, bar_time, symbol, inputs, {"done": False})
    fills = await rebalance_when_settled(executor, symbol, quantity, price, decision_id,
                                         bar_time)
    executor.record_equity(bar_time, prices)
    store.record_decision(decision_id, bar_time, symbol, inputs,
                          {"done": True, "position": executor.position(symbol).quantity,
                           "fills": [f.fill_id for f in fills]})
    return True


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(replay(_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
