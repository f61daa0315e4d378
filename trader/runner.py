"""Wiring for ``alphaloop trade``: feed, broker, store, executor, serving client, cache.

- **paper**: the bars of ``ingest.source`` (validated as the pipeline does) replayed — the
  newest ``trader.replay.bars``, the bars before them seeding the feature window — against a
  :class:`~trader.brokers.PaperBroker` whose venue file lives beside the store.
- **live**: closed bars polled through ccxt and orders through
  :class:`~trader.brokers.CcxtBroker`; refused unless ``live_confirmed`` and credentials are
  in the environment (``ALPHALOOP_EXCHANGE_API_KEY`` / ``_SECRET``), which are never logged.

The same :class:`~trader.service.Trader` runs both: the order logic is one code path.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alphaloop.config import Params, Settings
from alphaloop.execution import ExecutionParams
from alphaloop.features.online import OnlineFeatures
from alphaloop.registry.task import feature_set_hash
from alphaloop.trading.strategies import make_strategy
from trader.brokers.paper import PaperBroker
from trader.cache import CacheTTLs, FeatureCache
from trader.executor import Executor
from trader.feeds import ReplayFeed
from trader.inputs import MarketInputs, load_headlines
from trader.service import Trader, TradeReport
from trader.serving_client import ServingClient
from trader.store import StateStore

log = logging.getLogger(__name__)
DEFAULT_DIR = Path(".alphaloop/trader")


class TradeSetupError(ValueError):
    """``alphaloop trade`` cannot start as configured (the message names the setting)."""


@dataclass
class Session:
    trader: Trader
    feed: Any
    store: StateStore
    broker: Any
    serving: ServingClient
    cache: FeatureCache

    async def close(self) -> None:
        await self.serving.close()
        await self.cache.close()
        await self.broker.close()
        self.store.close()


def replay_frames(params: Params, symbols: list[str]) -> dict[str, pd.DataFrame]:
    """Validated bars of ``ingest.source`` (the paper replay's market)."""
    from alphaloop.stages import data

    raw = data.ingest(params.ingest, None).frame
    bars, _ = data.validate(params.validate_, raw, "paper replay", None, False)
    symbol = str(bars["symbol"].iloc[0])
    if symbols != [symbol]:
        raise TradeSetupError(f"paper replay trades ingest.source, whose bars are {symbol}; "
                              f"set trader.symbols (or --symbols) to [{symbol}], got {symbols}")
    return {symbol: bars}


def feature_columns(params: Params, online: OnlineFeatures) -> list[str]:
    return list(params.train.feature_columns or online.columns)


def store_for(settings: Settings, state_dir: Path = DEFAULT_DIR) -> StateStore:
    """The trader's store: ``ALPHALOOP_TRADER_STORE_URL``, or SQLite under ``state_dir``."""
    return StateStore(settings.trader_store_url or
                      f"sqlite:///{(state_dir / 'state.db').resolve()}")


def _markets(params: Params, symbols: list[str], serving: ServingClient,
             cache: FeatureCache) -> dict[str, MarketInputs]:
    cfg = params.trader
    headlines = load_headlines(cfg.headlines) if cfg.headlines else None
    inputs = {}
    for symbol in symbols:
        online = OnlineFeatures(params.features, cfg.feature_window)
        columns = feature_columns(params, online)
        spec = {"features": params.features.model_dump(mode="json"), "columns": columns,
                "target": params.target.model_dump(mode="json")}
        inputs[symbol] = MarketInputs(symbol, cfg.timeframe, online, columns,
                                      feature_set_hash(spec), serving, cache,
                                      max_age_days=cfg.model_max_age_days,
                                      weights=cfg.meta_weights, regime=cfg.regime,
                                      headlines=headlines)
    return inputs


def _clients(params: Params, settings: Settings, serving_url: str,
             token: str | None) -> tuple[ServingClient, FeatureCache]:
    calls, ttl = params.trader.serving, params.trader.cache
    serving = ServingClient(serving_url, token, timeout_s=calls.timeout_s,
                            retries=calls.retries, breaker_threshold=calls.breaker_threshold,
                            breaker_ttl_s=calls.breaker_ttl_s)
    return serving, FeatureCache(settings.redis_url, CacheTTLs(**ttl.model_dump()))


def build_paper(params: Params, settings: Settings, *, serving_url: str, account: str,
                token: str | None = None, state_dir: Path = DEFAULT_DIR,
                frames: dict[str, pd.DataFrame] | None = None) -> Session:
    """A paper-trading session on replayed bars (resuming where the store left off)."""
    cfg = params.trader
    store = store_for(settings, state_dir)
    broker = PaperBroker(state_dir / f"paper-venue-{account}.db",
                         initial_cash=cfg.starting_cash,
                         fee_bps=params.backtest.fee_bps,
                         slippage_bps=params.backtest.slippage_bps)
    # A paper venue answers at once: an order it does not know was never placed.
    execution = ExecutionParams(**{**cfg.execution.model_dump(), "not_found_polls": 1,
                                   "not_found_grace_s": 0.0})
    executor = Executor(broker, store, account, execution)
    serving, cache = _clients(params, settings, serving_url, token)
    frames = frames if frames is not None else replay_frames(params, cfg.symbols)
    inputs = _markets(params, list(frames), serving, cache)
    trader = Trader(params, executor, inputs, make_strategy(cfg.strategy.name,
                                                            cfg.strategy.params),
                    account=account, prices=broker)
    resume = trader.resume_points()
    feed = ReplayFeed(frames, cfg.timeframe, cfg.replay.bars, cfg.replay.speed,
                      start_after=resume)
    for symbol, market in inputs.items():
        history = frames[symbol]
        cut = resume.get(symbol)
        seen = history[history["timestamp"] <= cut] if cut is not None else feed.history(symbol)
        market.seed(seen)
    return Session(trader, feed, store, broker, serving, cache)


async def build_live(params: Params, settings: Settings, *, serving_url: str, account: str,
                     token: str | None = None, state_dir: Path = DEFAULT_DIR,
                     exchange_class: type | None = None) -> Session:
    """A live session: ccxt bars and orders (the broker refuses to start without credentials).

    ``exchange_class`` replaces the ccxt class (tests pass one whose HTTP layer is local).
    """
    from trader.brokers.ccxt_broker import CcxtBroker
    from trader.feeds import CcxtFeed

    cfg = params.trader
    broker = CcxtBroker(cfg.exchange, cfg.symbols, settings=settings,
                        exchange_class=exchange_class)
    store = store_for(settings, state_dir)
    executor = Executor(broker, store, account, cfg.execution)
    serving, cache = _clients(params, settings, serving_url, token)
    inputs = _markets(params, cfg.symbols, serving, cache)
    trader = Trader(params, executor, inputs, make_strategy(cfg.strategy.name,
                                                            cfg.strategy.params),
                    account=account)
    feed = CcxtFeed(broker.exchange, cfg.symbols, cfg.timeframe, cfg.poll_s,
                    cfg.feature_window)
    await feed.prime()
    for symbol, market in inputs.items():
        market.seed(feed.history(symbol))
    return Session(trader, feed, store, broker, serving, cache)


def write_report(session: Session, report: TradeReport, out: Path) -> dict[str, Any]:
    """``report.json`` and ``equity.png`` for the run; returns the report's content."""
    trader, store = session.trader, session.store
    account = trader.account
    curve = store.equity_curve(account)
    positions = {s: p.quantity for s, p in trader.executor.positions().items() if p.quantity}
    orders = store.orders(account)
    first = curve[0].equity if curve else float("nan")
    last = curve[-1].equity if curve else float("nan")
    latencies = np.asarray(report.latencies_ms) if report.latencies_ms else np.array([np.nan])
    content = {
        "account": account, "bars": report.bars, "orders": len(orders),
        "fills": len(store.fills(account)), "holds": report.holds, "halted": report.halted,
        "equity_start": first, "equity_end": last,
        "pnl": last - first if curve else float("nan"),
        "return": last / first - 1.0 if curve and first else float("nan"),
        "positions": positions, "cash": trader.executor.cash(),
        "reasons": report.reasons,
        "cache": {"backend": session.cache.backend,
                  "hit_rate": session.cache.stats.hit_rate(),
                  "hits": session.cache.stats.hits, "misses": session.cache.stats.misses},
        "decision_ms": {"p50": float(np.nanpercentile(latencies, 50)),
                        "p99": float(np.nanpercentile(latencies, 99))},
        "seconds": report.seconds,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(content, indent=2, default=str, allow_nan=True))
    if curve:
        _plot([c.time for c in curve], [c.equity for c in curve], out / "equity.png", account)
    return content


def _plot(times: list[Any], equity: list[float], path: Path, account: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.plot(pd.to_datetime(times), equity, lw=1.2)
    ax.set_title(f"alphaloop trade: equity of {account}")
    ax.set_ylabel("equity")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
