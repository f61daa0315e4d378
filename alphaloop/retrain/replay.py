"""Replay of history: one ensemble retraining cycle per day on an as-of clock, traded out of sample.

It answers "does retraining every 24 h help?" on stored bars. For each day ``D`` of the
replay, the cycle (the same ``run_cycle`` the 24 h deployment runs) sees only the raw bars
stamped before ``D 00:00 UTC`` (and only the newest ``window_days`` of them) and registers
its challenger in a replay-private sqlite registry, where the gate decides as it would live.
Then the bars of day ``D`` are traded, through the project's decision rules and costs, by:

- ``champion``: the champion after cycle ``D`` (chosen with data before ``D`` only);
- ``never_retrain``: the first day's champion for every day (the first day's challenger when
  the gate refused it; the summary says so);
- ``latest``: the newest challenger each day, whatever the gate said (retraining without a
  gate);
- ``buy_and_hold``: long from the first replayed bar to the last.

Features for trading are built once over the whole (validated) series and sliced per day:
every feature at bar ``t`` uses bars ``<= t`` only (``tests/unit/features/test_talib_set.py``
checks there is no look-ahead). The per-day positions are concatenated into one series and
run through one backtest per strategy, so all strategies share rules, costs and bars.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alphaloop.backtest import BacktestResult, buy_and_hold, periods_per_year_for, run_backtest
from alphaloop.config import Params
from alphaloop.models.fitting import ENSEMBLE
from alphaloop.registry.lifecycle import Registration, RegistryConfig
from alphaloop.signals import target_positions
from alphaloop.workspace import Workspace, read_json, write_json

log = logging.getLogger(__name__)

STRATEGIES = ("champion", "never_retrain", "latest", "buy_and_hold")
LABELS = {"champion": "champion each day", "never_retrain": "never retrain",
          "latest": "latest, no gate", "buy_and_hold": "buy and hold"}
MARKER = ".alphaloop-replay"  # marks a folder a replay wrote, so a rerun may replace it
Predictor = Any  # alphaloop.models.ensemble.EnsemblePredictor (imported lazily)


@dataclass(frozen=True)
class DayRecord:
    """One day of the replay: what the cycle trained on, what the gate decided, what traded.

    Attributes:
        champion_version: The champion after cycle ``day`` (None while there is none).
        challenger_accuracy: The new version's holdout accuracy.
        champion_accuracy: The incumbent's accuracy on the same holdout (None: no incumbent,
            or it could not be compared).
        traded_version: The version the ``champion`` strategy traded on ``day``.
        traded_bars: Bars of ``day`` that were traded (0 when the data has none that day).
    """

    day: date
    model: str
    version: str
    promoted: bool
    champion_version: str | None
    compared_with: str | None
    challenger_accuracy: float
    champion_accuracy: float | None
    reasons: list[str]
    window_first: pd.Timestamp
    window_last: pd.Timestamp
    window_bars: int
    train_end: pd.Timestamp | None
    holdout: str
    seconds: float
    traded_version: str = ""
    traded_bars: int = 0

    def row(self) -> dict[str, Any]:
        """The day as a flat CSV row."""
        return {"date": self.day.isoformat(), "model": self.model, "version": self.version,
                "promoted": self.promoted, "champion_after": self.champion_version or "",
                "compared_with": self.compared_with or "", "traded": self.traded_version,
                "acc_challenger": self.challenger_accuracy,
                "acc_champion": self.champion_accuracy,
                "window_first": str(self.window_first), "window_last": str(self.window_last),
                "window_bars": self.window_bars, "train_end": str(self.train_end or ""),
                "traded_bars": self.traded_bars, "holdout": self.holdout,
                "seconds": round(self.seconds, 1),
                "reasons": "; ".join(self.reasons)}


@dataclass
class ReplayResult:
    """Every day's decision and the strategies' out-of-sample backtests."""

    start: date
    end: date
    window_days: float | None
    days: list[DayRecord]
    strategies: dict[str, BacktestResult]
    versions: dict[str, list[str]]  # strategy -> version traded per day ("" for buy-and-hold)
    never_retrain_note: str
    params: Params
    periods_per_year: float
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        """One row per replayed day."""
        return pd.DataFrame([d.row() for d in self.days])

    def stats(self) -> dict[str, dict[str, float]]:
        """Return, Sharpe, max drawdown and trades per strategy (after costs)."""
        return {name: strategy_stats(result) for name, result in self.strategies.items()}

    def summary(self) -> dict[str, Any]:
        cost = self.params.backtest
        seconds = [d.seconds for d in self.days]
        return {
            "start": self.start.isoformat(), "end": self.end.isoformat(),
            "days": len(self.days), "window_days": self.window_days,
            "model": self.days[0].model if self.days else None,
            "members": self.params.train.members,
            "rules": cost.signal.model_dump(),
            "costs": {"fee_bps": cost.fee_bps, "slippage_bps": cost.slippage_bps},
            "periods_per_year": self.periods_per_year,
            "wall_seconds": round(self.seconds, 1),
            "cycle_seconds_mean": round(float(np.mean(seconds)), 1) if seconds else None,
            "strategies": self.stats(),
            "never_retrain": {"version": self.versions["never_retrain"][0] if self.days
                              else None, "note": self.never_retrain_note},
            "timeline": timeline(self.days),
            **self.extra,
        }


def strategy_stats(result: BacktestResult) -> dict[str, float]:
    """The comparison's figures: net and gross return, Sharpe, max drawdown, trades, exposure."""
    s = result.stats
    gross = float(np.prod(1.0 + result.gross_returns.to_numpy()) - 1.0)
    return {"total_return": s["total_return"], "gross_total_return": gross,
            "sharpe": s["sharpe"], "max_drawdown": s["max_drawdown"],
            "trades": float(result.trades), "exposure": s["exposure"],
            "bars": float(len(result.returns))}


def timeline(days: list[DayRecord]) -> dict[str, Any]:
    """How the champion moved: promotions, the days they happened, changes of champion."""
    champions = [d.traded_version for d in days]
    changes = [d.day.isoformat() for prev, d in itertools.pairwise(days)
               if d.traded_version != prev.traded_version]
    return {"promotions": sum(d.promoted for d in days),
            "promotion_days": [d.day.isoformat() for d in days if d.promoted],
            "refused_days": [d.day.isoformat() for d in days if not d.promoted],
            "champion_changes": len(changes), "change_days": changes,
            "distinct_champions": list(dict.fromkeys(champions)),
            "days_without_champion": [d.day.isoformat() for d in days
                                      if d.champion_version is None]}


def day_range(start: date, end: date) -> list[date]:
    """Every calendar day from ``start`` to ``end`` inclusive."""
    if end < start:
        raise ValueError(f"end ({end}) is before start ({start})")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def day_start(day: date) -> pd.Timestamp:
    """``day`` 00:00 UTC."""
    return pd.Timestamp(day.isoformat(), tz="UTC")


def as_of(raw: pd.DataFrame, day: date, window_days: float | None) -> pd.DataFrame:
    """The raw bars a cycle on ``day`` may see: stamped before ``day`` 00:00 UTC, newest
    ``window_days`` only (every earlier bar when None)."""
    stamps = pd.to_datetime(raw["timestamp"], utc=True, errors="coerce")
    cutoff = day_start(day)
    keep = stamps < cutoff
    if window_days is not None:
        keep &= stamps >= cutoff - pd.Timedelta(days=window_days)
    return raw[keep.to_numpy()].reset_index(drop=True)


def replay_params(params: Params, window_days: float | None) -> Params:
    """Params for replay cycles: the window given, no walk-forward backtest per cycle."""
    retrain = params.retrain.model_copy(update={"backtest": False,
                                                "training_window_days": window_days})
    return params.model_copy(update={"retrain": retrain})


def prepare_root(root: Path) -> RegistryConfig:
    """A fresh replay folder; a previous replay's registry and workspaces are replaced.

    Raises:
        FileExistsError: When ``root`` holds ``registry/`` or ``days/`` that no replay wrote.
    """
    stale = [root / name for name in ("registry", "days") if (root / name).exists()]
    if stale and not (root / MARKER).exists():
        raise FileExistsError(f"{root} already holds {', '.join(p.name for p in stale)} not "
                              "written by a replay: choose another --out")
    for path in stale:
        shutil.rmtree(path)
    (root / "registry").mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("written by `alphaloop retrain replay`; safe to delete\n")
    return RegistryConfig(tracking_uri=None, root=root / "registry")


def record_day(day: date, registration: Registration, window: dict[str, Any],
               train_end: str | None, seconds: float) -> DayRecord:
    """A day's record from the cycle's registration and data window."""
    scores = registration.scores
    champion = scores.get("champion")
    return DayRecord(
        day=day, model=registration.name, version=registration.version,
        promoted=registration.promoted, champion_version=registration.champion_version,
        compared_with=registration.compared_with,
        challenger_accuracy=float(scores[ENSEMBLE]["accuracy"]),
        champion_accuracy=float(champion["accuracy"]) if champion else None,
        reasons=list(registration.reasons), window_first=pd.Timestamp(window["first"]),
        window_last=pd.Timestamp(window["last"]), window_bars=int(window["bars"]),
        train_end=pd.Timestamp(train_end) if train_end else None,
        holdout=registration.holdout, seconds=seconds)


def run_day(params: Params, raw: pd.DataFrame, day: date, root: Path,
            registry: RegistryConfig) -> DayRecord:
    """One as-of cycle on ``day`` (bars before it only) in its own workspace."""
    from alphaloop.retrain.cycle import run_cycle

    window = as_of(raw, day, params.retrain.training_window_days)
    if window.empty:
        raise ValueError(f"{day}: no bars before this day to train on")
    ws = Workspace(root / "days" / day.isoformat())
    ws.root.mkdir(parents=True, exist_ok=True)
    report = run_cycle(params, "ensemble", ws, registry, raw=window)
    if report.registration is None:
        raise RuntimeError(f"{day}: the cycle registered nothing")
    data = read_json(ws.report("train_metrics")).get("data", {}) \
        if ws.report("train_metrics").exists() else {}
    record = record_day(day, report.registration, report.window, data.get("train_end"),
                        report.seconds)
    if record.window_last >= day_start(day):
        raise AssertionError(f"{day}: the cycle saw a bar at {record.window_last}")
    return record


def never_retrain_choice(first: DayRecord) -> tuple[str, str]:
    """The version never-retrain trades on every day, and a note on how it was chosen."""
    if first.champion_version is not None:
        return first.champion_version, (f"v{first.champion_version}: the champion after the "
                                        f"first cycle ({first.day})")
    return first.version, (f"v{first.version}: the first day's challenger; the gate refused "
                           f"it on {first.day} and there was no champion yet")


def traded_versions(days: list[DayRecord], baseline: str) -> dict[str, list[str]]:
    """Version per day for each model strategy (the champion falls back to ``baseline``
    until the gate has made one)."""
    return {"champion": [d.champion_version or baseline for d in days],
            "never_retrain": [baseline] * len(days),
            "latest": [d.version for d in days]}


def day_rows(features: pd.DataFrame, day: date) -> pd.DataFrame:
    """Feature rows of the bars stamped on ``day`` (``[D, D + 1)`` UTC); empty on a day the
    data has no bars (a gap: the position held before it carries its move)."""
    begin = day_start(day)
    stamps = features["timestamp"]
    return features[(stamps >= begin) & (stamps < begin + pd.Timedelta(days=1))]


def day_probabilities(features: pd.DataFrame, days: list[DayRecord], versions: list[str],
                      load: Callable[[str, str], Predictor]) -> pd.Series:
    """P(up) for every replayed bar, each day from its own model, as one series."""
    parts = []
    for record, version in zip(days, versions, strict=True):
        rows = day_rows(features, record.day)
        if rows.empty:
            continue
        proba = load(record.model, version).predict_proba(rows)
        parts.append(pd.Series(proba, index=pd.DatetimeIndex(rows["timestamp"])))
    return pd.concat(parts)


def trade(params: Params, close: pd.Series, prob_up: pd.Series | None,
          periods_per_year: float) -> BacktestResult:
    """Backtest P(up) through the decision rules and costs (buy-and-hold when None)."""
    cost = params.backtest
    if prob_up is None:
        return buy_and_hold(close, cost.fee_bps, cost.slippage_bps, periods_per_year)
    positions = target_positions(prob_up.to_numpy(), cost)
    return run_backtest(close, positions, cost.fee_bps, cost.slippage_bps, periods_per_year)


def model_loader(registry: RegistryConfig) -> Callable[[str, str], Predictor]:
    """Registered versions' predictors, loaded once each from the replay's registry."""
    cache: dict[tuple[str, str], Predictor] = {}

    def load(name: str, version: str) -> Predictor:
        if (name, version) not in cache:
            import mlflow

            registry.connect()
            model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
            cache[(name, version)] = model.unwrap_python_model().predictor
        return cache[(name, version)]

    return load


def evaluate_days(params: Params, features: pd.DataFrame, days: list[DayRecord],
                  load: Callable[[str, str], Predictor]
                  ) -> tuple[dict[str, BacktestResult], dict[str, list[str]], str, float]:
    """Trade every replayed day with each strategy; same bars, rules and costs for all."""
    baseline, note = never_retrain_choice(days[0])
    versions = traded_versions(days, baseline)
    rows = pd.concat([day_rows(features, d.day) for d in days])
    if rows.empty:
        raise ValueError(f"no bars with features from {days[0].day} to {days[-1].day}")
    close = pd.Series(rows["close"].to_numpy(dtype=np.float64),
                      index=pd.DatetimeIndex(rows["timestamp"]), name="close")
    ppy = periods_per_year_for(str(rows["timeframe"].iloc[0]), params.validate_.session)
    results = {name: trade(params, close, day_probabilities(features, days, v, load), ppy)
               for name, v in versions.items()}
    results["buy_and_hold"] = trade(params, close, None, ppy)
    versions["buy_and_hold"] = [""] * len(days)
    return {name: results[name] for name in STRATEGIES}, versions, note, ppy


def replay(params: Params, start: date, end: date, root: Path,
           window_days: float | None = None,
           progress: Callable[[DayRecord, int, int], None] | None = None) -> ReplayResult:
    """Replay one retraining cycle per day from ``start`` to ``end`` and trade each day.

    Args:
        params: Project parameters (``retrain.backtest`` is turned off for the cycles).
        start: First replayed day (UTC); its cycle sees bars before it only.
        end: Last replayed day, inclusive.
        root: The replay's folder: its private registry (``registry/mlruns``) and one
            workspace per day (``days/<date>``); a previous replay there is replaced.
        window_days: Newest days of bars each cycle trains on; default
            ``params.retrain.training_window_days``.
        progress: Called after each day with its record, its number and the day count.
    """
    from alphaloop.stages import data

    began = time.perf_counter()
    window = window_days if window_days is not None else params.retrain.training_window_days
    cycle_params = replay_params(params, window)
    registry = prepare_root(root)
    raw = data.ingest(params.ingest, None).frame
    calendar = day_range(start, end)
    records: list[DayRecord] = []
    for number, day in enumerate(calendar, 1):
        record = run_day(cycle_params, raw, day, root, registry)
        records.append(record)
        log.info("replay %s (%d/%d): v%s %s; champion %s; holdout accuracy %.4f vs %s; %.0f s",
                 day, number, len(calendar), record.version,
                 "promoted" if record.promoted else "refused",
                 f"v{record.champion_version}" if record.champion_version else "none",
                 record.challenger_accuracy, _fmt(record.champion_accuracy), record.seconds)
        if progress is not None:
            progress(record, number, len(calendar))
    bars, _ = data.validate(params.validate_, raw, "replay", None, False)
    features = data.features(params.features, bars, None).frame
    results, versions, note, ppy = evaluate_days(params, features, records,
                                                 model_loader(registry))
    days = [replace(r, traded_version=v, traded_bars=len(day_rows(features, r.day)))
            for r, v in zip(records, versions["champion"], strict=True)]
    return ReplayResult(start, end, window, days, results, versions, note, params, ppy,
                        seconds=time.perf_counter() - began)


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else format(value, spec)


def write_outputs(result: ReplayResult, out: Path) -> dict[str, Path]:
    """``replay_days.csv``, ``replay_summary.json`` and ``replay.png`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"days": out / "replay_days.csv", "summary": out / "replay_summary.json",
             "plot": out / "replay.png"}
    result.frame().to_csv(paths["days"], index=False)
    write_json(paths["summary"], json.loads(json.dumps(result.summary(), default=str)))
    equity_png(result, paths["plot"])
    return paths


def equity_png(result: ReplayResult, path: Path) -> None:
    """Equity of each strategy after costs, with the promotion days marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.dates import date2num

    fig, ax = plt.subplots(figsize=(10, 5))
    for name, backtest in result.strategies.items():
        ax.plot(backtest.equity.index, backtest.equity.to_numpy(), label=LABELS[name])
    for i, record in enumerate(d for d in result.days if d.promoted):
        ax.axvline(float(date2num(day_start(record.day))), color="grey", linestyle=":",
                   linewidth=0.8, label="promotion" if i == 0 else None)
    ax.set(ylabel="equity (start 1)",
           title=f"Replay {result.start} → {result.end}: a cycle at each day's 00:00 UTC, "
                 "that day traded out of sample, after costs")
    ax.legend(loc="best")
    fig.autofmt_xdate()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def decisions_table(result: ReplayResult) -> Any:
    """A rich table of each day's gate decision."""
    from rich.table import Table

    table = Table(title="Replay: one retraining cycle per day (bars before the day only)")
    for column in ("date", "version", "promoted", "champion", "acc challenger",
                   "acc champion", "window", "bars traded", "s"):
        table.add_column(column, justify="left" if column == "date" else "right")
    for d in result.days:
        table.add_row(d.day.isoformat(), f"v{d.version}", "yes" if d.promoted else "no",
                      f"v{d.champion_version}" if d.champion_version else "none",
                      _fmt(d.challenger_accuracy), _fmt(d.champion_accuracy),
                      f"{d.window_bars:,}", str(d.traded_bars), f"{d.seconds:.0f}")
    return table


def comparison_table(result: ReplayResult) -> Any:
    """A rich table of the strategies, out of sample and after costs."""
    from rich.table import Table

    cost = result.params.backtest
    table = Table(title=f"Out of sample {result.start} → {result.end}, after "
                        f"{cost.fee_bps:g} bps fee + {cost.slippage_bps:g} bps slippage")
    for column in ("strategy", "return", "gross", "Sharpe", "max DD", "trades", "models"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for name, s in result.stats().items():
        models = len({v for v in result.versions[name] if v})
        table.add_row(LABELS[name], f"{s['total_return']:+.2%}",
                      f"{s['gross_total_return']:+.2%}", _fmt(s["sharpe"], ".2f"),
                      f"{s['max_drawdown']:.2%}", f"{s['trades']:.0f}",
                      str(models) if models else "-")
    t = timeline(result.days)
    table.caption = (f"{t['promotions']} promotions in {len(result.days)} days; the champion "
                     f"changed {t['champion_changes']} times. Never retrain: "
                     f"{result.never_retrain_note}")
    return table
