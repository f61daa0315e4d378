"""An HTML tear sheet of the walk-forward strategy against buy-and-hold.

One self-contained page (charts as inline PNG): the headline table (strategy, the cost-aware
rule when reported, buy-and-hold), cumulative return on a log scale, drawdowns, daily
returns, rolling Sharpe, monthly returns and the per-window results. quantstats does not
install with this project's pins, so the page is drawn with matplotlib. Given the same
curves it is byte-identical (no timestamps, fixed image metadata), so DVC can track it.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np
import pandas as pd

from alphaloop.plots import pyplot

_ROWS = (("total_return", "Total return", "{:+.2%}"), ("cagr", "CAGR", "{:+.2%}"),
         ("volatility", "Volatility (ann.)", "{:.2%}"), ("sharpe", "Sharpe", "{:.2f}"),
         ("sortino", "Sortino", "{:.2f}"), ("max_drawdown", "Max drawdown", "{:.2%}"),
         ("calmar", "Calmar", "{:.2f}"), ("deflated_sharpe", "P(SR > 0), deflated", "{:.3f}"),
         ("win_rate", "Win rate (bars held)", "{:.1%}"), ("exposure", "Exposure", "{:.1%}"),
         ("trades", "Trades", "{:.0f}"),
         ("costs_paid", "Costs paid (sum of each trade's cost / equity)", "{:.2%}"))
_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1000px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{padding:.25em .8em;text-align:right;
border-bottom:1px solid #ddd}th:first-child,td:first-child{text-align:left}
img{max-width:100%}h2{margin-top:1.6em}.note{color:#666;font-size:.9em}"""


def tear_sheet_html(curves: pd.DataFrame, summary: dict[str, Any], windows: pd.DataFrame,
                    market: str) -> str:
    """The page for ``curves`` (``equity_table``), the backtest summary and its windows."""
    equity = curves.set_index("timestamp")[["strategy", "buy_and_hold"]]
    daily = equity.resample("1D").last().dropna().pct_change().dropna()
    oos = summary["out_of_sample"]
    sections = [
        f"<h1>Walk-forward tear sheet: {html.escape(market)}</h1>",
        f"<p>Out of sample {html.escape(oos['first'])} → {html.escape(oos['last'])} "
        f"({oos['bars']:,} bars, {summary['windows']['count']} windows, each predicted by a "
        f"model trained only on earlier bars), after {summary['costs_bps']:g} bps per trade "
        f"({html.escape(str(summary['costs'].get('description', '')))}).</p>",
        _table(summary),
        "<h2>Cumulative return</h2>", _img(_equity_figure(equity)),
        "<h2>Drawdown</h2>", _img(_drawdown_figure(curves)),
        "<h2>Daily returns</h2>", _img(_daily_figure(daily)),
        "<h2>Monthly returns</h2>", _monthly(equity),
        "<h2>Walk-forward windows</h2>", _windows(windows),
        "<p class=note>Made by alphaloop's backtest stage (reports/tear_sheet.html).</p>",
    ]
    return ("<!DOCTYPE html><html><head><meta charset=utf-8><title>alphaloop tear sheet"
            f"</title><style>{_STYLE}</style></head><body>{''.join(sections)}</body></html>\n")


def _table(summary: dict[str, Any]) -> str:
    columns = [("Strategy", {**summary["strategy"], **summary["strategy_before_costs"],
                             "total_return": summary["strategy"]["total_return"]})]
    if summary.get("strategy_cost_aware"):
        columns.append(("Cost-aware rule", summary["strategy_cost_aware"]))
    columns.append(("Buy and hold", summary["buy_and_hold"]))
    head = "".join(f"<th>{name}</th>" for name, _ in columns)
    rows = []
    for key, label, fmt in _ROWS:
        cells = "".join(f"<td>{fmt.format(stats[key]) if key in stats else '–'}</td>"
                        for _, stats in columns)
        rows.append(f"<tr><td>{label}</td>{cells}</tr>")
    return f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def _img(fig: Any) -> str:
    plt = pyplot()
    buffer = io.BytesIO()
    # No "Software" entry: the bytes depend on the picture only.
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f"<img alt=chart src='data:image/png;base64,{encoded}'>"


def _equity_figure(equity: pd.DataFrame) -> Any:
    fig, ax = pyplot().subplots(figsize=(10, 4))
    for column in equity.columns:
        ax.plot(equity.index, equity[column], label=column.replace("_", " "))
    ax.set_yscale("log")
    ax.set(ylabel="equity (start = 1, log scale)")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return fig


def _drawdown_figure(curves: pd.DataFrame) -> Any:
    fig, ax = pyplot().subplots(figsize=(10, 2.8))
    for column in ("strategy", "buy_and_hold"):
        ax.fill_between(curves["timestamp"], curves[f"{column}_drawdown"], 0, alpha=0.4,
                        label=column.replace("_", " "))
    ax.set(ylabel="drawdown")
    ax.legend(loc="lower left")
    ax.grid(alpha=0.3)
    return fig


def _daily_figure(daily: pd.DataFrame) -> Any:
    fig, (bars, hist) = pyplot().subplots(1, 2, figsize=(10, 3),
                                          gridspec_kw={"width_ratios": [2, 1]})
    width = pd.Timedelta(hours=9)
    for offset, column in ((-width / 2, "strategy"), (width / 2, "buy_and_hold")):
        bars.bar(pd.DatetimeIndex(daily.index) + offset, daily[column], width=width,
                 label=column.replace("_", " "))
    bars.set(ylabel="daily return")
    bars.tick_params(axis="x", labelrotation=30)
    bars.legend(loc="lower left")
    edges = np.linspace(float(daily.min().min()), float(daily.max().max()), 25)
    for column in daily.columns:
        hist.hist(daily[column], bins=edges, alpha=0.5, label=column.replace("_", " "))
    hist.set(xlabel="daily return", ylabel="days")
    return fig


def _monthly(equity: pd.DataFrame) -> str:
    # Equity starts at 1 just before the first out-of-sample bar.
    start = pd.DataFrame({c: [1.0] for c in equity.columns},
                         index=[equity.index[0] - pd.Timedelta(1, "ns")])
    month_end = pd.concat([start, equity.resample("ME").last()])
    returns = month_end.pct_change().dropna()
    rows = "".join(f"<tr><td>{stamp:%Y-%m}</td><td>{row['strategy']:+.2%}</td>"
                   f"<td>{row['buy_and_hold']:+.2%}</td></tr>"
                   for stamp, row in returns.iterrows())
    return ("<table><tr><th>month</th><th>strategy</th><th>buy and hold</th></tr>"
            f"{rows}</table><p class=note>The first and last months are partial.</p>")


def _windows(windows: pd.DataFrame) -> str:
    rows = "".join(
        f"<tr><td>{int(w['window'])}</td><td>{str(w['window_start'])[:16]}</td>"
        f"<td>{str(w['window_end'])[:16]}</td><td>{int(w['n_train']):,}</td>"
        f"<td>{w['accuracy']:.3f}</td><td>{w['total_return']:+.2%}</td>"
        f"<td>{w['buy_hold_return']:+.2%}</td><td>{w['trades']:.0f}</td></tr>"
        for _, w in windows.iterrows())
    return ("<table><tr><th>window</th><th>from</th><th>to</th><th>trained on</th>"
            "<th>accuracy</th><th>return</th><th>buy and hold</th><th>trades</th></tr>"
            f"{rows}</table>")
