"""``alphaloop trade``: paper trading on replayed bars (live through ccxt is gated), and status."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from pipelines import common

trade_app = typer.Typer(help="The trader: paper trading on replayed bars (live with --live), "
                             "and its status.", invoke_without_command=True)
err = Console(stderr=True)
DEFAULT_SERVING = "http://127.0.0.1:3000"


@trade_app.callback()
def trade(
    ctx: typer.Context,
    mode: Annotated[str | None, typer.Option(
        "--mode", help="paper (replayed bars, simulated venue) or live (default trader.mode).")
    ] = None,
    serving_url: Annotated[str, typer.Option(
        "--serving-url", help="The serving API (`alphaloop serve`).")] = DEFAULT_SERVING,
    symbols: Annotated[str | None, typer.Option(
        "--symbols", help="Comma-separated symbols (default trader.symbols).")] = None,
    bars: Annotated[int | None, typer.Option(
        "--bars", help="Paper: replay the newest N bars (default trader.replay.bars).")] = None,
    speed: Annotated[float | None, typer.Option(
        "--speed", help="Paper: bars per second, 0 = no waiting (default trader.replay.speed).")
    ] = None,
    account: Annotated[str, typer.Option(
        help="Account name: its orders, positions and decisions in the store.")] = "paper",
    params: Annotated[Path, typer.Option("--params", help="Parameters file.")] = Path(
        "params.yaml"),
    live: Annotated[bool, typer.Option(
        "--live", help="Confirm live trading with real money (with --mode live).")] = False,
    report: Annotated[Path, typer.Option(
        help="Where report.json and equity.png go.")] = Path("reports/trader"),
) -> None:
    """Trade: features → served models → meta-score → gate → decision → orders.

    Paper mode replays the newest bars of ingest.source against a simulated venue with the
    backtest's fees and slippage; a second run resumes where the store left off. Live mode
    needs --mode live, --live and ALPHALOOP_EXCHANGE_API_KEY / _SECRET.
    """
    if ctx.invoked_subcommand is not None:
        return
    common.setup()
    from alphaloop.config import ConfigError, Settings, load_params

    try:
        cfg = load_params(params)
    except ConfigError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    chosen = mode or cfg.trader.mode
    if chosen not in ("paper", "live"):
        err.print(f"[red]--mode must be paper or live, got {chosen!r}[/red]")
        raise typer.Exit(2)
    if chosen == "live":
        _check_live(live)
    updates: dict[str, Any] = {}
    if symbols:
        updates["symbols"] = [s.strip() for s in symbols.split(",") if s.strip()]
    replay = cfg.trader.replay.model_copy(update={k: v for k, v in
                                                  (("bars", bars), ("speed", speed))
                                                  if v is not None})
    trader_cfg = cfg.trader.model_copy(update={**updates, "replay": replay})
    cfg = cfg.model_copy(update={"trader": trader_cfg})
    settings = Settings()
    content = asyncio.run(_trade(cfg, settings, chosen, serving_url, account, report))
    _print_report(content, report)
    if content.get("halted"):
        raise typer.Exit(1)


def _check_live(confirmed: bool) -> None:
    """Live trading needs the explicit flag and credentials from the environment."""
    from alphaloop.config import Settings

    settings = Settings()
    if not confirmed:
        err.print("[red]live trading places real orders: add --live to confirm[/red]")
        raise typer.Exit(2)
    if settings.exchange_api_key is None or settings.exchange_api_secret is None:
        err.print("[red]live trading needs ALPHALOOP_EXCHANGE_API_KEY and "
                  "ALPHALOOP_EXCHANGE_API_SECRET in the environment[/red]")
        raise typer.Exit(2)


async def _trade(cfg: Any, settings: Any, mode: str, serving_url: str, account: str,
                 out: Path) -> dict[str, Any]:
    from trader.brokers.base import BrokerConfigError
    from trader.executor import ReconciliationError
    from trader.runner import TradeSetupError, build_live, build_paper, write_report

    try:
        session = (build_paper(cfg, settings, serving_url=serving_url, account=account,
                               token=_token()) if mode == "paper" else
                   await build_live(cfg, settings, serving_url=serving_url, account=account,
                                    token=_token()))
    except (TradeSetupError, BrokerConfigError, ValueError) as exc:
        err.print(f"[red]cannot start: {exc}[/red]")
        raise typer.Exit(2) from exc
    try:
        size = f"{len(session.feed)} bars to replay" if mode == "paper" else "live bars"
        err.print(f"{mode} trading {', '.join(cfg.trader.symbols)} ({size}) against "
                  f"{serving_url}; store {session.store!r}")
        try:
            result = await session.trader.run(session.feed)
        except ReconciliationError as exc:
            err.print(f"[red]not trading: {exc}[/red]")
            raise typer.Exit(1) from exc
        return write_report(session, result, out / account)
    finally:
        await session.close()


def _token() -> str | None:
    import os

    return os.environ.get("ALPHALOOP_API_TOKEN") or None


def _print_report(content: dict[str, Any], out: Path) -> None:
    console = Console()
    table = Table(title=f"alphaloop trade: {content['account']}")
    table.add_column("")
    table.add_column("value", justify="right")
    rows = [("bars decided", f"{content['bars']:,}"), ("orders", f"{content['orders']:,}"),
            ("fills", f"{content['fills']:,}"), ("bars on HOLD (degraded)", f"{content['holds']}"),
            ("equity", f"{content['equity_start']:,.2f} → {content['equity_end']:,.2f}"),
            ("PnL", f"{content['pnl']:+,.2f} ({_pct(content['return'])})"),
            ("positions", ", ".join(f"{k} {v:+.6g}" for k, v in content["positions"].items())
             or "flat"),
            ("cache hit rate", f"{_pct(content['cache']['hit_rate'], sign=False)} "
                               f"({content['cache']['backend']})"),
            ("decision p50 / p99", f"{content['decision_ms']['p50']:.1f} / "
                                   f"{content['decision_ms']['p99']:.1f} ms")]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(content["reasons"].items(),
                                                       key=lambda kv: -kv[1]))
    console.print(f"decisions: {reasons}")
    if content.get("halted"):
        console.print(f"[red]halted: {content['halted']}[/red]")
    console.print(f"wrote {out / content['account'] / 'report.json'} and equity.png")


def _pct(value: float, sign: bool = True) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:+.2%}" if sign else f"{value:.1%}"


@trade_app.command("status")
def status(account: Annotated[str, typer.Option(help="Account name.")] = "paper") -> None:
    """The account in the store: cash, positions, orders, the last decision, halted or not."""
    common.setup()
    from alphaloop.config import Settings
    from trader.runner import store_for

    store = store_for(Settings())
    try:
        if not store.has_account(account):
            err.print(f"[red]no account {account!r} in {store!r}; run `alphaloop trade` "
                      "first[/red]")
            raise typer.Exit(1)
        _print_status(store, account)
    finally:
        store.close()


def _print_status(store: Any, account: str) -> None:
    console = Console()
    orders = store.orders(account)
    unsettled = store.orders(account, unsettled_only=True)
    curve = store.equity_curve(account)
    decisions = [d for d in store.decisions() if d.decision_id.startswith(f"{account}:")]
    table = Table(title=f"account {account} ({store!r})")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("cash", f"{store.cash(account):,.2f}")
    for symbol, position in store.positions(account).items():
        table.add_row(f"position {symbol}", f"{position.quantity:+.6g}")
    table.add_row("equity (last snapshot)", f"{curve[-1].equity:,.2f}" if curve else "-")
    table.add_row("orders (unsettled)", f"{len(orders):,} ({len(unsettled)})")
    if decisions:
        last = decisions[-1]
        table.add_row("last decision", f"{last.bar_time} {last.symbol}: "
                                       f"{last.outputs.get('reason')} → target "
                                       f"{last.outputs.get('target')}")
    table.add_row("halted", store.flag(account, "kill_switch") or "no")
    console.print(table)
